import { createPrivateKey, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import {
  InvalidPrivateKeyError,
  normalizePrivateKeyPem,
  SigningKey,
  toBase64Url,
} from '../../functions/lib/dfns/signing.js';
import { generateKey } from '../../tools/sandbox/ids.js';
import { keysInEveryFormat, PEM_SHAPES } from '../support/keys.js';

const formats = keysInEveryFormat();

/** A PEM block built at run time (no key-shaped literal in the repository). */
function pemBlock(label: string, body: string): string {
  const dashes = '-'.repeat(5);
  return `${dashes}BEGIN ${label}${dashes}\n${body}\n${dashes}END ${label}${dashes}\n`;
}
const clientData = JSON.stringify({ type: 'key.get', challenge: 'Y2hhbGxlbmdl' });

/** Verifies a base64url signature the way Dfns does for each key type. */
function verifies(publicKeyPem: string, signature: string): boolean {
  const key = createPublicKey(publicKeyPem);
  const bytes = Buffer.from(signature, 'base64url');
  const data = Buffer.from(clientData);
  if (key.asymmetricKeyType === 'ed25519') return verify(null, data, key, bytes);
  return verify('sha256', data, { key, dsaEncoding: 'der' }, bytes);
}

describe('normalizePrivateKeyPem and SigningKey.fromPem', () => {
  describe.each(formats.map((f) => [`${f.kind} ${f.format}`, f] as const))('%s', (_name, key) => {
    it.each(Object.keys(PEM_SHAPES))('accepts the %s shape and signs verifiably', (shape) => {
      const stored = (PEM_SHAPES[shape] as (pem: string) => string)(key.privateKeyPem);
      expect(normalizePrivateKeyPem(stored)).toBe(key.privateKeyPem.replace(/\r/g, ''));
      const signingKey = SigningKey.fromPem(stored);
      expect(verifies(key.publicKeyPem, signingKey.sign(clientData))).toBe(true);
    });
  });

  it('skips an EC PARAMETERS block in front of the key (openssl ecparam -genkey without -noout)', () => {
    const sec1 = formats.find((f) => f.format === 'SEC1')!;
    const withParams = `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${sec1.privateKeyPem}`;
    expect(SigningKey.fromPem(withParams).kind).toBe('ecdsa-p256');
  });

  const encryptedPkcs8 = generateKeyPairSync('ed25519').privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'correct horse',
  }) as string;
  const encryptedLegacy = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs1',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'correct horse',
  }) as string;
  const openssh = pemBlock('OPENSSH PRIVATE KEY', Buffer.from('openssh-key-v1\0none\0none\0').toString('base64'));
  const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
  const x25519 = generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const truncated = (() => {
    const pem = generateKey('ed25519').privateKeyPem.split('\n');
    return [pem[0], 'MC4CAQAwBQYDK2VwBCIEI', pem[2]].join('\n');
  })();

  it.each([
    ['an encrypted PKCS#8 key', encryptedPkcs8, /encrypted PKCS#8/],
    ['an encrypted legacy PEM', encryptedLegacy, /encrypted legacy OpenSSL PEM/],
    ['an OpenSSH key', openssh, /OpenSSH private key/],
    ['a public key', generateKey('ed25519').publicKeyPem, /is a public key/],
    ['a certificate', pemBlock('CERTIFICATE', 'AAAA'), /is a certificate/],
    ['an empty string', '', /is empty/],
    ['text without PEM', 'not a key at all', /is not a PEM block/],
    ['a secp256k1 key', secp256k1, /curve secp256k1/],
    ['a 1024-bit RSA key', rsa1024, /1024-bit RSA key; Dfns requires at least 2048/],
    ['an X25519 key', x25519, /x25519 key; supported/],
    [
      'two private keys',
      `${generateKey('ed25519').privateKeyPem}${generateKey('ed25519').privateKeyPem}`,
      /holds 2 private keys; store exactly one/,
    ],
    ['a corrupted body', truncated, /could not be parsed as a PRIVATE KEY PEM/],
    ['a body with non-base64 characters', pemBlock('PRIVATE KEY', 'MC4*AQAw'), /not base64/],
  ])('refuses %s with a message naming the format', (_name, pem, message) => {
    let caught: unknown;
    try {
      SigningKey.fromPem(pem);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidPrivateKeyError);
    const error = caught as InvalidPrivateKeyError;
    expect(error.field).toBe('privateKey');
    expect(error.message).toMatch(/^privateKey: /);
    expect(error.message).toMatch(message);
    // No piece of the key body (any 12-character run of a base64 line) may appear in the message.
    for (const line of pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{12,}$/.test(l))) {
      expect(error.message).not.toContain(line.slice(0, 12));
    }
  });
});

describe('SigningKey.sign', () => {
  const keys = Object.fromEntries(formats.filter((f) => f.format === 'PKCS#8').map((f) => [f.kind, f]));

  it('signs Ed25519 as 64 raw bytes', () => {
    const signature = SigningKey.fromPem(keys.ed25519!.privateKeyPem).sign(clientData);
    expect(Buffer.from(signature, 'base64url')).toHaveLength(64);
  });

  it('signs ECDSA P-256 as ASN.1 DER over SHA-256, never raw r‖s', () => {
    const signature = Buffer.from(SigningKey.fromPem(keys.p256!.privateKeyPem).sign(clientData), 'base64url');
    expect(signature[0]).toBe(0x30); // DER SEQUENCE
    expect(signature.length).toBeGreaterThanOrEqual(68);
    expect(signature.length).toBeLessThanOrEqual(72);
    expect(signature[1]).toBe(signature.length - 2);
    const publicKey = createPublicKey(keys.p256!.publicKeyPem);
    expect(verify('sha256', Buffer.from(clientData), { key: publicKey, dsaEncoding: 'der' }, signature)).toBe(true);
  });

  it('signs RSA with PKCS#1 v1.5 over SHA-256 at the modulus length', () => {
    const signature = Buffer.from(SigningKey.fromPem(keys.rsa!.privateKeyPem).sign(clientData), 'base64url');
    expect(signature).toHaveLength(256);
    // PKCS#1 v1.5 is deterministic: the same input gives the same bytes (PSS would not).
    expect(SigningKey.fromPem(keys.rsa!.privateKeyPem).sign(clientData)).toBe(signature.toString('base64url'));
  });

  it('produces base64url without padding for every key type', () => {
    for (const key of Object.values(keys)) {
      const signature = SigningKey.fromPem(key.privateKeyPem).sign(clientData);
      expect(signature).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it('derives the scheme from the key, whatever the PEM format', () => {
    expect(formats.map((f) => [f.format, SigningKey.fromPem(f.privateKeyPem).kind])).toEqual([
      ['PKCS#8', 'ed25519'],
      ['PKCS#8', 'ecdsa-p256'],
      ['PKCS#8', 'rsa'],
      ['SEC1', 'ecdsa-p256'],
      ['PKCS#1', 'rsa'],
    ]);
  });

  it('never shows key material when logged or serialised', () => {
    const key = SigningKey.fromPem(keys.ed25519!.privateKeyPem);
    const der = createPrivateKey(keys.ed25519!.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
    const secretTail = der.subarray(-32).toString('base64');
    for (const shown of [inspect(key, { showHidden: true, depth: 5 }), JSON.stringify(key), String(key)]) {
      expect(shown).not.toContain(secretTail);
      expect(shown).not.toContain('PRIVATE KEY');
    }
    expect(JSON.stringify({ key })).toBe('{"key":{"kind":"ed25519"}}');
  });
});

describe('toBase64Url', () => {
  it('uses the URL alphabet without padding (RFC 4648 section 5)', () => {
    expect(toBase64Url(Buffer.from([0xfb, 0xff, 0xbf]))).toBe('-_-_');
    expect(toBase64Url('a')).toBe('YQ');
    expect(toBase64Url(new Uint8Array([0xff, 0xee]))).toBe('_-4');
  });
});
