import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { readAccessToken } from '../../functions/lib/dfns/access-token.js';
import { maskSecrets, secretShapeOf, shownSecret } from '../../functions/lib/secret-values.js';
import { entryOf, plainTextValues } from '../../functions/revoke-pats/token-entry.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (claims: Record<string, unknown>, header: unknown = { typ: 'JWT', alg: 'EdDSA' }) =>
  `${b64(header)}.${b64(claims)}.${Buffer.alloc(64, 7).toString('base64url')}`;
const APP = 'https://custom/app_metadata';
const ID = 'to-202a0-cdo33-o65mbt6q758lvvnt';
const OTHER = 'to-aaaaa-bbbbb-cccccccccccccccc';
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
    ['-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----', 'pem'],
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
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----';
    expect(plainTextValues(`${ID}\n${pem}\n${OTHER}`)).toEqual([pem, ID, OTHER]);
  });
});

describe('maskSecrets', () => {
  it('replaces JWTs and PEM blocks in text, and long runs only when asked', () => {
    const token = jwt({ jti: ID });
    const run = 'A'.repeat(80);
    expect(maskSecrets(`reason: ${token} and ${run}`, { longRuns: false })).toBe(
      `reason: ${shownSecret(token)} and ${run}`,
    );
    expect(maskSecrets(`reason: ${token} and ${run}`, { longRuns: true })).toBe(
      `reason: ${shownSecret(token)} and ${shownSecret(run)}`,
    );
    expect(maskSecrets('an ordinary sentence, with to-aaaaa-bbbbb-cccccccccccccccc', { longRuns: true })).toBe(
      'an ordinary sentence, with to-aaaaa-bbbbb-cccccccccccccccc',
    );
  });

  it('is stable: masking masked text changes nothing', () => {
    const once = maskSecrets(`${jwt({ jti: ID })} ${'b'.repeat(100)}`, { longRuns: true });
    expect(maskSecrets(once, { longRuns: true })).toBe(once);
  });
});
