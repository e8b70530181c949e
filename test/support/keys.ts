/**
 * Private keys in every PEM format and in the shapes operators store them in a JSON secret (CONTRACT section 3).
 */
import { createPrivateKey } from 'node:crypto';
import { generateKey, type GeneratedKey, type KeyKind } from '../../tools/sandbox/ids.js';

/** A private key in one PEM format. */
export interface KeyFormat {
  kind: KeyKind;
  format: 'PKCS#8' | 'SEC1' | 'PKCS#1';
  privateKeyPem: string;
  publicKeyPem: string;
}

/** Every PEM format the contract accepts, for fresh keys: PKCS#8 of each type, SEC1 (P-256), PKCS#1 (RSA). */
export function keysInEveryFormat(): KeyFormat[] {
  const keys: Record<KeyKind, GeneratedKey> = {
    ed25519: generateKey('ed25519'),
    p256: generateKey('p256'),
    rsa: generateKey('rsa'),
  };
  const reexport = (key: GeneratedKey, type: 'sec1' | 'pkcs1') =>
    createPrivateKey(key.privateKeyPem).export({ type, format: 'pem' }) as string;
  return [
    ...Object.values(keys).map((k) => ({ ...k, format: 'PKCS#8' as const })),
    { kind: 'p256', format: 'SEC1', privateKeyPem: reexport(keys.p256, 'sec1'), publicKeyPem: keys.p256.publicKeyPem },
    { kind: 'rsa', format: 'PKCS#1', privateKeyPem: reexport(keys.rsa, 'pkcs1'), publicKeyPem: keys.rsa.publicKeyPem },
  ];
}

/** The ways a PEM reaches us from a JSON secret, each a transformation of the canonical PEM. */
export const PEM_SHAPES: Record<string, (pem: string) => string> = {
  canonical: (pem) => pem,
  'escaped \\n': (pem) => pem.replace(/\n/g, '\\n'),
  'escaped \\r\\n': (pem) => pem.replace(/\n/g, '\\r\\n'),
  'flattened with spaces': (pem) => pem.trim().split('\n').join(' '),
  'indented lines': (pem) =>
    pem
      .split('\n')
      .map((line) => `    ${line}`)
      .join('\n'),
  'CRLF, no final newline, padded': (pem) => `  ${pem.trim().replace(/\n/g, '\r\n')}  `,
  'a JSON string with \\/ escapes, quotes kept': (pem) => JSON.stringify(pem).replace(/\//g, '\\/'),
  'escaped twice (\\\\n)': (pem) => pem.replace(/\n/g, '\\\\n'),
};
