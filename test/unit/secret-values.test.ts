import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { readAccessToken } from '../../functions/lib/dfns/access-token.js';
import { maskSecrets, secretShapeOf, shownSecret } from '../../functions/lib/secret-values.js';
import { entryOf, plainTextValues } from '../../functions/revoke-pats/token-entry.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (claims: Record<string, unknown>, header: unknown = { typ: 'JWT', alg: 'EdDSA' }) =>
  `${b64(header)}.${b64(claims)}.${randomBytes(64).toString('base64url')}`;
const APP = 'https://custom/app_metadata';
const ID = 'to-202a0-cdo33-o65mbt6q758lvvnt';
const OTHER = 'to-aaaaa-bbbbb-cccccccccccccccc';
/** A private key generated for the test (never committed), as PKCS#8 PEM without its final newline. */
const testKeyPem = () =>
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim();
const sha = (value: string) => createHash('sha256').update(value).digest('hex');

describe('readAccessToken: the claim rule of CONTRACT section 3', () => {
  it.each([
    ['jti first', { jti: ID, [APP]: { userId: OTHER, orgId: 'or-1' } }, ID],
    ['else app_metadata.userId', { jti: 'uj-123', [APP]: { userId: ID, orgId: 'or-1' } }, ID],
    ['else app_metadata.tokenId', { jti: 'uj-123', [APP]: { userId: 'us-1', tokenId: ID } }, ID],
    ['nothing shaped like a token ID', { jti: 'uj-123', [APP]: { userId: 'us-1' } }, undefined],
    ['a to- value that is no token ID', { jti: 'to-x', [APP]: {} }, undefined],
  ])('%s', (_, claims, tokenId) => {
    expect(readAccessToken(jwt(claims))?.tokenId).toBe(tokenId);
  });

  it('reads the organisation and kind from the app metadata only, and only as short printable text', () => {
    expect(readAccessToken(jwt({ sub: 'or-sub', [APP]: { orgId: 'or-1', tokenKind: 'Pat' } }))).toEqual({
      orgId: 'or-1',
      tokenKind: 'Pat',
    });
    expect(readAccessToken(jwt({ sub: 'or-sub', [APP]: { orgId: 'or 1\n' } }))).toEqual({});
  });

  it('is not a JWT when its header or payload is not a JSON object', () => {
    expect(readAccessToken(`${b64('text')}.${b64({ jti: ID })}.sig`)).toBeUndefined();
    expect(readAccessToken(`eyJhbGciOiJub25lIn0.bm90IGpzb24.sig`)).toBeUndefined();
    expect(readAccessToken('not.a.jwt')).toBeUndefined();
  });
});

describe('secret shapes (CONTRACT section 4)', () => {
  it.each([
    [jwt({ jti: ID }), 'jwt'],
    [testKeyPem(), 'pem'],
    ['x'.repeat(65), 'long'],
  ])('%#: %s…', (value, kind) => {
    expect(secretShapeOf(value)?.kind).toBe(kind);
  });

  it('leaves values of 64 characters or fewer without a secret marker alone', () => {
    expect(secretShapeOf('x'.repeat(64))).toBeUndefined();
    expect(secretShapeOf(' TO-X')).toBeUndefined();
  });

  it('shows a secret as its first 8 characters (printable ones only) and a SHA-256 of the whole', () => {
    expect(shownSecret('abcdefghijklmnop')).toBe(`abcdefgh…sha256:${sha('abcdefghijklmnop')}`);
    expect(shownSecret('ab\u0000\u200bc\tdefgh')).toBe(`ab??c?de…sha256:${sha('ab\u0000\u200bc\tdefgh')}`);
  });
});

describe('entryOf', () => {
  it('keeps a JWT naming a token ID only as its ID, organisation and fingerprint', () => {
    const token = jwt({ jti: ID, [APP]: { orgId: 'or-1' } });
    const entry = entryOf(` ${token}\n`);
    expect(entry).toEqual({
      valid: false,
      raw: shownSecret(token),
      detail: expect.stringMatching(/an access token \(JWT\) naming to-202a0/),
      leaked: { tokenId: ID, orgId: 'or-1', receivedAs: `jwt sha256:${sha(token)}` },
    });
    expect(JSON.stringify(entry)).not.toContain(token.split('.')[1]);
  });

  it('does not keep an object that holds a secret-shaped value', () => {
    const token = jwt({ jti: ID });
    const { raw } = entryOf({ token }) as { raw: string };
    expect(raw).toMatch(/^<object not copied: holds a secret-shaped value, \{"token"…sha256:[0-9a-f]{64}>$/);
  });
});

describe('plainTextValues', () => {
  it('keeps a PEM block whole instead of splitting it into words', () => {
    const pem = testKeyPem();
    expect(plainTextValues(`${ID}\n${pem}\n${OTHER}`)).toEqual([pem, ID, OTHER]);
  });
});

describe('maskSecrets', () => {
  it('replaces JWTs, PEM blocks and runs of key material in text, and leaves prose, IDs and UUIDs alone', () => {
    const token = jwt({ jti: ID });
    const key = 'c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkwYWJjZA==';
    expect(maskSecrets(`reason: ${token} and ${key}.`)).toBe(`reason: ${shownSecret(token)} and ${shownSecret(key)}.`);
    const innocent = `an ordinary sentence. ${OTHER}, 3b241101-e2bb-4255-8caf-4136c566a962, ${'r'.repeat(200)}`;
    expect(maskSecrets(innocent)).toBe(innocent);
  });

  it('catches a secret wrapped at 64 columns, piece by piece', () => {
    const token = jwt({ jti: ID, [APP]: { orgId: 'or-1', userId: 'us-1' } });
    const wrapped = token.match(/.{1,64}/g)!.join('\n');
    const masked = maskSecrets(wrapped);
    for (const piece of token.match(/.{1,64}/g)!.slice(0, -1)) expect(masked).not.toContain(piece.slice(8));
  });

  it('is stable: masking masked text changes nothing', () => {
    const once = maskSecrets(`${jwt({ jti: ID })} ${'b1'.repeat(50)}`);
    expect(maskSecrets(once)).toBe(once);
  });
});
