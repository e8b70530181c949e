/**
 * Identifiers and keys in Dfns' shapes, generated fresh for the sandbox, tests, the demo and the benchmark.
 * Nothing here is ever committed: every key is generated at run time.
 */
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomChars(length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** A Dfns-shaped ID, e.g. `dfnsId('to', 16)` → `to-abcde-fghij-0123456789abcdef`. */
export function dfnsId(prefix: string, tailLength = 16): string {
  return `${prefix}-${randomChars(5)}-${randomChars(5)}-${randomChars(tailLength)}`;
}

/** A fresh token ID matching `^to-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{14,16}$`. */
export function newTokenId(): string {
  return dfnsId('to', 16);
}

/** An opaque random value, base64url, `bytes` of entropy. */
export function opaque(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Key types a Dfns service-account key credential can have here. */
export type KeyKind = 'ed25519' | 'p256' | 'rsa';

/** A generated key pair as PEM: PKCS#8 private key, SPKI public key (what Dfns registers). */
export interface GeneratedKey {
  kind: KeyKind;
  privateKeyPem: string;
  publicKeyPem: string;
}

/**
 * Generates a service-account key pair.
 *
 * @param kind `ed25519` (Dfns' recommendation), `p256` (ECDSA prime256v1) or `rsa`
 * @param rsaBits RSA modulus length in bits @default 2048 (fast for tests; Dfns recommends 3072)
 */
export function generateKey(kind: KeyKind, rsaBits = 2048): GeneratedKey {
  const pair =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : kind === 'p256'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('rsa', { modulusLength: rsaBits });
  const privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  return { kind, privateKeyPem, publicKeyPem };
}
