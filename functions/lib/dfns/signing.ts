/**
 * Signing of Dfns user-action challenges with a service account's private key.
 *
 * Everything here is `node:crypto`: PEM parsing, the signature per key type, base64url. The rules come from the
 * Dfns key-credential flow as the official `@dfns/sdk-keysigner` implements it (see `../shared/dfns-protocol.md`):
 * Ed25519 signs the raw message, ECDSA signs SHA-256 with an ASN.1 DER signature, RSA signs SHA-256 with
 * PKCS#1 v1.5 padding; every binary value travels as base64url without padding.
 */
import { constants, createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';

/** The key types Dfns accepts for a service account's key credential, as far as this function supports them. */
export type SigningKeyKind = 'ed25519' | 'ecdsa-p256' | 'rsa';

/** Smallest RSA modulus accepted, in bits (Dfns: 2048 accepted, 3072 recommended). */
export const MIN_RSA_BITS = 2048;

/**
 * The private key cannot be used. The message names the format or rule that failed and never contains key
 * material; the `field` is always `privateKey` so callers can report which part of the credential is wrong.
 */
export class InvalidPrivateKeyError extends Error {
  override readonly name = 'InvalidPrivateKeyError';
  readonly field = 'privateKey';
  constructor(message: string) {
    super(`privateKey: ${message}`);
  }
}

/** PEM labels that hold an unencrypted private key `createPrivateKey` understands. */
const ACCEPTED_LABELS = new Set(['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY']);

/** Labels we recognise in order to refuse them with a message naming the format. */
const REFUSED_LABELS: Record<string, string> = {
  'ENCRYPTED PRIVATE KEY':
    'is an encrypted PKCS#8 key; the credential carries no passphrase, store the unencrypted PKCS#8 PEM',
  'OPENSSH PRIVATE KEY':
    'is an OpenSSH private key; store a PEM key instead (ECDSA/RSA: ssh-keygen -p -m PKCS8 -f <file>; Ed25519 cannot be converted that way: generate one with openssl genpkey -algorithm Ed25519 and register its public key)',
  'PUBLIC KEY': 'is a public key; the secret must hold the private key (the public key is what Dfns registers)',
  'RSA PUBLIC KEY': 'is a public key; the secret must hold the private key (the public key is what Dfns registers)',
  CERTIFICATE: 'is a certificate; the secret must hold the private key',
};

// Any PEM block; the label is captured so `END` can be matched against the same label.
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Rebuilds a canonical PEM block from the shapes operators really store in a JSON secret: literal `\n` (or `\r\n`,
 * or doubly escaped `\\n` and `\/` from a value JSON-encoded twice) instead of newlines, a block flattened onto one line with spaces, indented lines, CRLF line
 * ends, surrounding quotes or text. The base64 body is re-wrapped at 64 characters (RFC 7468).
 *
 * Other blocks before the key (e.g. `EC PARAMETERS` from `openssl ecparam -genkey` without `-noout`) are ignored.
 *
 * @param input the stored value, as read from the secret
 * @returns a PEM string with one private-key block and a trailing newline
 * @throws {InvalidPrivateKeyError} when no PEM block is found, more than one private key is, the block is encrypted (PKCS#8 `ENCRYPTED PRIVATE
 *   KEY` or legacy `Proc-Type: 4,ENCRYPTED`), OpenSSH, a public key or certificate, or its body is not base64.
 */
export function normalizePrivateKeyPem(input: string): string {
  return extractKeyBlock(input).pem;
}

function extractKeyBlock(input: string): { label: string; pem: string } {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new InvalidPrivateKeyError('is empty; expected a PEM private key');
  }
  // Escapes left by one or more rounds of JSON encoding: `\n`, `\\n`, `\r\n`, `\/`. Base64 has no backslash,
  // so any backslash sequence here is an escape artefact.
  const text = input.replace(/\\+r\\+n|\\+n|\\+r/g, '\n').replace(/\\+\//g, '/');
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] as string, body: m[2] as string }));
  if (blocks.length === 0) {
    throw new InvalidPrivateKeyError(
      'is not a PEM block (expected a BEGIN/END PRIVATE KEY block, PKCS#8, SEC1 or PKCS#1)',
    );
  }
  const keys = blocks.filter((b) => ACCEPTED_LABELS.has(b.label));
  if (keys.length > 1) {
    // Two keys (a rotation half done?): signing with the wrong one fails every request; refuse to guess.
    throw new InvalidPrivateKeyError(`holds ${keys.length} private keys; store exactly one`);
  }
  const key = keys[0];
  if (!key) {
    const refused = blocks.map((b) => REFUSED_LABELS[b.label]).find((reason) => reason !== undefined);
    throw new InvalidPrivateKeyError(
      refused ??
        `has an unsupported PEM label "${blocks[0]?.label}"; expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY`,
    );
  }
  if (/Proc-Type:\s*4,\s*ENCRYPTED/i.test(key.body)) {
    throw new InvalidPrivateKeyError(
      `is an encrypted legacy OpenSSL PEM (${key.label} with Proc-Type: 4,ENCRYPTED); store the unencrypted key`,
    );
  }
  const body = key.body.replace(/\s+/g, '');
  if (!BASE64_BODY.test(body)) {
    throw new InvalidPrivateKeyError(`has a ${key.label} block whose body is not base64`);
  }
  const lines = body.match(/.{1,64}/g) ?? [];
  return { label: key.label, pem: `-----BEGIN ${key.label}-----\n${lines.join('\n')}\n-----END ${key.label}-----\n` };
}

/**
 * A parsed service-account private key that signs Dfns challenges. Parse once per credential (per container),
 * then call {@link SigningKey.sign} per challenge: parsing a PEM costs far more than an Ed25519 signature.
 */
export class SigningKey {
  /** Which signature scheme this key uses, derived from the key itself (never from configuration). */
  readonly kind: SigningKeyKind;

  private constructor(
    private readonly key: KeyObject,
    kind: SigningKeyKind,
  ) {
    this.kind = kind;
  }

  /**
   * Parses a private key stored as in CONTRACT section 3 (PKCS#8, SEC1 or PKCS#1 PEM, in any of the tolerated
   * shapes, see {@link normalizePrivateKeyPem}).
   *
   * @throws {InvalidPrivateKeyError} for encrypted, OpenSSH or unparseable keys, and for key types Dfns does not
   *   accept here: curves other than P-256, RSA under {@link MIN_RSA_BITS} bits, RSA-PSS, DSA, X25519, ...
   */
  static fromPem(pem: string): SigningKey {
    const { label, pem: normalized } = extractKeyBlock(pem);
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: normalized, format: 'pem' });
    } catch (error) {
      // OpenSSL's reason (e.g. ERR_OSSL_UNSUPPORTED) names the problem without echoing the key.
      const code = (error as { code?: unknown }).code;
      throw new InvalidPrivateKeyError(
        `could not be parsed as a ${label} PEM${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
    return new SigningKey(key, SigningKey.kindOf(key));
  }

  private static kindOf(key: KeyObject): SigningKeyKind {
    const type = key.asymmetricKeyType;
    const details = key.asymmetricKeyDetails ?? {};
    if (type === 'ed25519') return 'ed25519';
    if (type === 'ec') {
      if (details.namedCurve === 'prime256v1') return 'ecdsa-p256';
      throw new InvalidPrivateKeyError(
        `is an EC key on curve ${details.namedCurve ?? 'unknown'}; supported: Ed25519, ECDSA P-256 (prime256v1), RSA`,
      );
    }
    if (type === 'rsa') {
      const bits = details.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) {
        throw new InvalidPrivateKeyError(`is a ${bits}-bit RSA key; Dfns requires at least ${MIN_RSA_BITS} bits`);
      }
      return 'rsa';
    }
    throw new InvalidPrivateKeyError(
      `is a ${type ?? 'unknown'} key; supported: Ed25519, ECDSA P-256 (prime256v1), RSA (PKCS#1 v1.5)`,
    );
  }

  /**
   * Signs bytes the way Dfns verifies a key credential assertion.
   *
   * @param data the exact bytes to sign (for a user action: the UTF-8 clientData JSON); a string is UTF-8 encoded
   * @returns the signature, base64url without padding: Ed25519 64 raw bytes, ECDSA ASN.1 DER (70–72 bytes; never
   *   raw r‖s, which Dfns rejects), RSA the modulus length
   */
  sign(data: string | Uint8Array): string {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    switch (this.kind) {
      case 'ed25519':
        // Ed25519 hashes internally: a digest name here throws (and on some Node versions signed garbage).
        return cryptoSign(null, bytes, this.key).toString('base64url');
      case 'ecdsa-p256':
        return cryptoSign('sha256', bytes, { key: this.key, dsaEncoding: 'der' }).toString('base64url');
      case 'rsa':
        return cryptoSign('sha256', bytes, { key: this.key, padding: constants.RSA_PKCS1_PADDING }).toString(
          'base64url',
        );
    }
  }

  /** Never print the key: `console.log(key)` or a serialised error shows only the scheme. */
  toJSON(): { kind: SigningKeyKind } {
    return { kind: this.kind };
  }

  /** @see toJSON */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** @see toJSON */
  toString(): string {
    return `SigningKey<${this.kind}>`;
  }
}

/**
 * base64url without padding (RFC 4648 section 5), the encoding Dfns uses for clientData and signatures.
 *
 * @param data bytes, or a string taken as UTF-8
 */
export function toBase64Url(data: string | Uint8Array): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)).toString('base64url');
}
