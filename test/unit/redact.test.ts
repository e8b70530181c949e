/**
 * Redaction of disguised secrets (issue 15, point 3): a bearer token or user action quoted split by separators,
 * case-changed, or base64-, hex- or percent-encoded is removed; ordinary error messages pass unchanged.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { REDACT_WINDOW, redact, SecretWindows } from '../../functions/lib/dfns/redact.js';
import { SecretIndex, skeletonOf } from '../../functions/lib/dfns/secret-search.js';

// Generated at run time, shaped like Dfns' secrets: a JWT of about 900 characters and a user action.
const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const header = base64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' }));
const claims = { sub: `or-${randomBytes(8).toString('hex')}`, data: randomBytes(420).toString('base64') };
// A 64-byte signature: its last base64url character holds 4 bits, so it is a letter (the token ends in one).
const token = `${header}.${base64url(JSON.stringify(claims))}.${base64url(randomBytes(64))}`;
const userAction = `ua.${base64url(randomBytes(48))}`;
const secrets = [new SecretWindows(token), new SecretWindows(userAction)];

/** The token from its second segment on (`eyJ`, as JSON starts): the character before it, the header's last, is `9`. */
const tail = token.slice(header.length + 1);
/** The shortest start of `tail` with {@link REDACT_WINDOW} letters and digits: a window counts those only. */
const shortest = tail.match(new RegExp(`^(?:[^A-Za-z0-9]*[A-Za-z0-9]){${REDACT_WINDOW}}`))?.[0] ?? '';
/**
 * The user action redacted in `before ... after`: a `-` or `_` it ends with is not a letter or digit, and may stay
 * (it tells nothing).
 */
const userActionRedacted = (before: string, after: string) =>
  new RegExp(`^${before.replace(/[?+]/g, '\\$&')}\\[redacted\\][-_]*${after}$`);
const spaced = (text: string, separator: string, every = 1) =>
  (text.match(new RegExp(`[^]{1,${every}}`, 'g')) ?? []).join(separator);

describe('redact: the secret split, case-changed or in compatibility forms', () => {
  it.each([
    ['spaces', ' '],
    ['tabs and line breaks', '\t\r\n'],
    ['no-break and ideographic spaces', '\u00a0\u3000'],
    ['zero-width spaces and joiners', '\u200b\u200c\u200d'],
    ['word joiners and byte-order marks', '\u2060\ufeff'],
    ['soft hyphens', '\u00ad'],
    ['dashes', '-'],
    ['underscores', '_'],
    ['dots', '.'],
    ['commas and colons', ', : '],
    ['slashes', '/'],
  ])('removes the bearer token split by %s, separators included', (_name, separator) => {
    expect(redact(`token ${spaced(token, separator)} rejected`, secrets)).toBe('token [redacted] rejected');
    expect(redact(`token ${spaced(tail, separator, 3)} rejected`, secrets)).toBe('token [redacted] rejected');
  });

  it('removes the bearer token and the user action lower-cased or upper-cased', () => {
    expect(redact(`token ${token.toLowerCase()} rejected`, secrets)).toBe('token [redacted] rejected');
    expect(redact(`TOKEN ${token.toUpperCase()} REJECTED`, secrets)).toBe('TOKEN [redacted] REJECTED');
    expect(redact(`user action ${userAction.toUpperCase()} already used`, secrets)).toMatch(
      userActionRedacted('user action ', ' already used'),
    );
  });

  it('removes a piece of the window length split and case-changed, and fullwidth letters', () => {
    const piece = shortest;
    expect(redact(`… ${spaced(piece.toLowerCase(), '\u200b')} …`, secrets)).toBe('… [redacted] …');
    const fullwidth = [...tail].map((c) => (/[A-Za-z0-9]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c));
    expect(redact(`token ${fullwidth.join('')} rejected`, secrets)).toBe('token [redacted] rejected');
  });
});

describe('redact: the secret encoded', () => {
  // Prefixes of 6, 7 and 8 bytes put the token at each of the 3 alignments inside the encoded data.
  it.each([
    ['standard, aligned', 'base64', '{"t":"'],
    ['standard, one byte in', 'base64', '{"tk":"'],
    ['standard, two bytes in', 'base64', '{"tok":"'],
    ['URL-safe, unpadded, one byte in', 'base64url', '{"tk":"'],
  ] as const)(
    'removes a base64 re-encoding of the token (%s), keeping what encodes the rest',
    (_name, encoding, prefix) => {
      const encoded = Buffer.from(`${prefix}${token}"}`).toString(encoding);
      // What encodes the prefix stays; from the first character holding a bit of the token, all goes up to `"}`.
      const kept = encoded.slice(0, Math.floor((4 * prefix.length) / 3)).replace(/[+/]/g, '\\$&');
      expect(redact(`body ${encoded} refused`, secrets)).toMatch(
        new RegExp(`^body ${kept}\\[redacted\\][A-Za-z0-9+/=_-]{0,6} refused$`),
      );
    },
  );

  it('removes base64 that starts off the 4-character grid, and of a piece of the window length', () => {
    const encoded = Buffer.from(`Bearer ${token}`).toString('base64');
    expect(redact(`header ${encoded.slice(2)}`, secrets)).toMatch(/^header [A-Za-z0-9+/]{0,12}\[redacted\]=*$/);
    for (const skip of [0, 1, 2]) {
      const piece = Buffer.from(`${'x'.repeat(skip)}${shortest}`).toString('base64url');
      expect(redact(`id ${piece} unknown`, secrets)).toContain('[redacted]');
      expect(redact(`id ${piece} unknown`, secrets)).not.toContain(piece.slice(-8));
    }
  });

  it.each([
    ['lower hex', (c: string) => `%${c.charCodeAt(0).toString(16)}`],
    ['upper hex', (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`],
  ])('removes the token percent-encoded with %s, whole or in part', (_name, percent) => {
    expect(redact(`GET /x?t=${[...token].map(percent).join('')}&y=1`, secrets)).toBe('GET /x?t=[redacted]&y=1');
    const mixed = [...tail].map((c, i) => (i % 2 ? percent(c) : c)).join('');
    expect(redact(`GET /x?t=${mixed}&y=1`, secrets)).toBe('GET /x?t=[redacted]&y=1');
  });

  it('removes the user action percent-encoded with spaces as + or %20', () => {
    expect(redact(`a=${spaced(userAction, '+', 4)}&b`, secrets)).toMatch(userActionRedacted('a=', '&b'));
    const encoded = encodeURIComponent(spaced(userAction, ' ', 4));
    expect(redact(`a=${encoded}&b`, secrets)).toMatch(userActionRedacted('a=', '&b'));
  });

  it('removes the token written with \\u escapes or split by escaped line breaks, as JSON and JavaScript write them', () => {
    const escaped = [...token].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    expect(redact(`{"t":"${escaped}"}`, secrets)).toBe('{"t":"[redacted]"}');
    expect(redact(`{"t":"${spaced(token, '\\r\\n', 8)}"}`, secrets)).toBe('{"t":"[redacted]"}');
  });

  it('removes the token hex-encoded, either case, at either digit alignment', () => {
    const hex = Buffer.from(token).toString('hex');
    expect(redact(`bytes ${hex} end`, secrets)).toBe('bytes [redacted] end');
    expect(redact(`bytes 0x${hex.toUpperCase()} end`, secrets)).toBe('bytes 0x[redacted] end');
    expect(redact(`bytes f${hex} end`, secrets)).toBe('bytes f[redacted] end');
  });
});

describe('redact: what is not secret', () => {
  const innocent = [
    'PAT not found',
    'Forbidden: the caller lacks permission Auth:Pats:Update on to-hnkqd-h81gs-0rm234jigbuftxwi',
    'User action signature is invalid (challenge mismatch). Please request a new challenge and sign it again.',
    'connect ECONNREFUSED 127.0.0.1:443',
    'getaddrinfo ENOTFOUND api.dfns.io',
    'Client network socket disconnected before secure TLS connection was established',
    '{"error":{"message":"Invalid token","id":"er-7f3a2-b9c1d-0k2m4n6p8r0t2v4x","requestId":"4d1f8a0e-6b2c-4e9a-8f3d-1c5b7a9e2d40"}}',
    '{"message":"Too Many Requests","retryAfter":"2026-12-03T17:36:30.123Z","path":"/auth/pats/to-abcde-fghij-0123456789abcdef/deactivate"}',
    '3f1c2a9e-5b7d-4e3f-9a1b-2c3d4e5f6a7b',
    '2026-12-03T17:36:30.123+01:00',
    'https://api.dfns.io/auth/pats?paginationToken=eyJsYXN0IjoidG8tMTIzIn0%3D&limit=100',
    'sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 does not match the expected digest',
    'The service could not complete the deactivation of the personal access token because the organisation has ' +
      'reached its request quota for the current minute; wait for the window to pass, then retry the same request.',
  ];

  it.each(innocent)('leaves %s unchanged', (text) => {
    expect(redact(text, secrets)).toBe(text);
  });
});

describe('SecretIndex', () => {
  it('refuses windows shorter than 8 characters, which would match ordinary words', () => {
    expect(() => new SecretIndex([token], 7)).toThrow(RangeError);
  });

  it('compares skeletons: ASCII letters and digits, lower-cased, compatibility forms folded', () => {
    expect(skeletonOf('eyJh.b-G\u200bc\u00ad Ｄ𝐄')).toBe('eyjhbgcde');
  });
});
