/**
 * The one error formatter (issue 13, point 3): errors that serialise to `{}`, AWS SDK errors, cause chains, secrets,
 * and the 2 KiB cap in UTF-8 bytes.
 */
import { describe, expect, it } from '@jest/globals';
import { DfnsApiError } from '../../functions/lib/dfns/errors.js';
import { cutUtf8, formatError, MAX_ERROR_BYTES } from '../../functions/lib/format-error.js';

// PEM markers built at run time: no key-shaped literal in the repository (and nothing here is a real key).
const marker = (edge: 'BEGIN' | 'END') => `-----${edge} ${['PRIVATE', 'KEY'].join(' ')}-----`;

describe('formatError', () => {
  it('names the error, its code, HTTP status and Dfns error id, then its message', () => {
    const dfns = new DfnsApiError(
      'deactivate',
      'to-aaaaa-bbbbb-cccccccccccccccc',
      404,
      'PAT not found',
      undefined,
      'er-7f3a',
    );
    expect(formatError(dfns)).toBe(
      'DfnsApiError (HTTP 404): Dfns PUT /auth/pats/{tokenId}/deactivate for to-aaaaa-bbbbb-cccccccccccccccc: HTTP 404: PAT not found (Dfns error id er-7f3a)',
    );
    const aws = Object.assign(new Error('User is not authorized to perform: sqs:SendMessage'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(formatError(aws)).toBe('AccessDenied (HTTP 403): User is not authorized to perform: sqs:SendMessage');
    const system = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(formatError(system)).toBe('Error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:9');
  });

  it('follows the cause chain, and stops on a cycle', () => {
    const root = new Error('socket hang up');
    const error = new Error('dead-letter send failed', { cause: new TypeError('fetch failed', { cause: root }) });
    expect(formatError(error)).toBe(
      'Error: dead-letter send failed ← caused by TypeError: fetch failed ← caused by Error: socket hang up',
    );
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(formatError(a)).toBe('Error: a ← caused by Error: b');
  });

  it.each([
    [{}, 'a thrown Object: {}'],
    [{ code: 'X', detail: 'odd' }, 'a thrown Object: {"code":"X","detail":"odd"}'],
    ['just a string', 'just a string'],
    [undefined, 'a thrown undefined'],
    [null, 'a thrown null'],
    [42, 'a thrown number: 42'],
  ])('describes what a thrown %p is, never as {} alone', (thrown, expected) => {
    expect(formatError(thrown)).toBe(expected);
  });

  it('gives an error without a name or message the name of its class', () => {
    const thrown = Object.assign(new RangeError(''), { name: '' });
    expect(formatError(thrown)).toBe('RangeError: (no message)');
  });

  it('describes an object that cannot be serialised', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(formatError(circular)).toBe('a thrown Object that cannot be serialised');
  });

  it('says when it stops following causes, and shows the reasons of an AggregateError', () => {
    let error = new Error('e0');
    for (let i = 1; i <= 8; i += 1) error = new Error(`e${i}`, { cause: error });
    expect(formatError(error)).toBe(
      'Error: e8 ← caused by Error: e7 ← caused by Error: e6 ← caused by Error: e5 ← caused by Error: e4 ← caused by Error: e3 ← caused by … (more causes)',
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:9'), { code: 'ECONNREFUSED' });
    expect(formatError(new AggregateError([refused], ''))).toBe(
      'AggregateError: [Error (ECONNREFUSED): connect ECONNREFUSED ::1:9]',
    );
  });

  it('never shows the secret-looking fields of a thrown plain object', () => {
    const thrown = { headers: { authorization: 'Bearer sk_live_123' }, apiToken: 'x', status: 500 };
    expect(formatError(thrown)).toBe(
      'a thrown Object: {"headers":{"authorization":"[redacted]"},"apiToken":"[redacted]","status":500}',
    );
  });

  it('removes bearer credentials and tokens glued to other text', () => {
    const jwt = ['eyJhbGciOiJFZERTQSJ9', 'eyJzdWIiOiJ0by0xIn0', 'c2lnbmF0dXJlLWJ5dGVz'].join('.');
    expect(formatError(new Error(`Authorization: Bearer abc.def-opaque-token-123 and x${jwt} and _${jwt}`))).toBe(
      'Error: Authorization: Bearer [redacted] and x[JWT redacted] and _[JWT redacted]',
    );
  });

  it('removes a cut PEM block up to the next cause, keeping the cause', () => {
    const error = new Error(`key ${marker('BEGIN')} MIIEvQIBADANBgkqhkiG9w0BAQEFAASC`, {
      cause: new Error('inner'),
    });
    expect(formatError(error)).toBe('Error: key [PEM block redacted] ← caused by Error: inner');
  });

  it('removes PEM blocks and JSON Web Tokens, whatever produced the text', () => {
    const pem = [marker('BEGIN'), 'MC4CAQAwBQYDK2VwBCIEIA', marker('END')].join('\n');
    const jwt = ['eyJhbGciOiJFZERTQSJ9', 'eyJzdWIiOiJ0by0xIn0', 'c2lnbmF0dXJlLWJ5dGVz'].join('.');
    const text = formatError(new Error(`bad key ${pem} and bearer ${jwt} here`));
    expect(text).toBe('Error: bad key [PEM block redacted] and bearer [JWT redacted] here');
  });

  it('stays within 2 KiB of UTF-8, saying how much was cut, never splitting a character', () => {
    const text = formatError(new Error('é€😀'.repeat(400)));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    const [, cut] = /…\[cut (\d+) bytes\]$/.exec(text) ?? [];
    expect(Number(cut)).toBe(
      Buffer.byteLength(`Error: ${'é€😀'.repeat(400)}`) - Buffer.byteLength(text.replace(/…\[cut \d+ bytes\]$/, '')),
    );
    expect(text).not.toMatch(/\uFFFD/);
    expect(cutUtf8('short', 10)).toBe('short');
  });
});

describe('cutUtf8 never loses a whole character it could keep', () => {
  it('keeps U+FFFD that was in the text, and cuts only at a character boundary', () => {
    expect(cutUtf8(`keep-me ${'\uFFFD'.repeat(70_000)}`, 100)).toMatch(/^keep-me \uFFFD+…\[cut \d+ bytes\]$/);
    for (const unit of ['€', '𝄞', 'é']) {
      const cut = cutUtf8(unit.repeat(100), 50);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(50);
      expect(cut).not.toContain('\uFFFD');
      expect(cut.startsWith(unit.repeat(3))).toBe(true);
    }
  });
});
