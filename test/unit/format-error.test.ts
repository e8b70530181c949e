/**
 * The one error formatter (issue 13, point 3): errors that serialise to `{}`, AWS SDK errors, cause chains, secrets,
 * and the 2 KiB cap in UTF-8 bytes.
 */
import { describe, expect, it } from '@jest/globals';
import { DfnsApiError } from '../../functions/lib/dfns/errors.js';
import { cutUtf8, formatError, MAX_ERROR_BYTES } from '../../functions/lib/format-error.js';

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
      'DfnsApiError (HTTP 404, Dfns error id er-7f3a): Dfns PUT /auth/pats/{tokenId}/deactivate for to-aaaaa-bbbbb-cccccccccccccccc: HTTP 404: PAT not found (Dfns error id er-7f3a)',
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

  it('removes PEM blocks and JSON Web Tokens, whatever produced the text', () => {
    const pem = ['-----BEGIN PRIVATE KEY-----', 'MC4CAQAwBQYDK2VwBCIEIA', '-----END PRIVATE KEY-----'].join('\n');
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
