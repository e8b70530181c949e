import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { findLeaks } from '../support/hygiene-buffer.js';
import { generateKey } from '../../tools/sandbox/ids.js';

describe('findLeaks (the suite-wide secret hygiene check)', () => {
  const token = `eyJhbGciOiJFZERTQSJ9.${'x1y2z3'.repeat(30)}.c2lnbmF0dXJl`;
  const key = generateKey('p256').privateKeyPem;
  const userAction = 'ua.Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';

  it('finds a whole secret, a 16-character piece of one, and a piece of a PEM body', () => {
    expect(findLeaks(`{"detail":"${token}"}`, [token])).not.toEqual([]);
    expect(findLeaks(`denied for ...${token.slice(50, 70)}...`, [token])).not.toEqual([]);
    const body = key.split('\n')[2]!;
    expect(findLeaks(`oops ${body.slice(10, 30)}`, [key])).not.toEqual([]);
    expect(findLeaks(`header x-dfns-useraction: ${userAction}`, [userAction])).not.toEqual([]);
  });

  describe('finds a secret disguised', () => {
    // Random, so that a case change changes it.
    const issued = `eyJhbGciOiJFZERTQSJ9.${randomBytes(150).toString('base64url')}.${randomBytes(48).toString('base64url')}`;
    const piece = issued.slice(21, 61);
    it.each([
      ['split by spaces', [...piece].join(' ')],
      ['split by zero-width characters', [...piece].join('\u200b')],
      ['split by soft hyphens and word joiners', [...piece].join('\u00ad\u2060')],
      ['split by separators', piece.match(/.{1,3}/g)!.join('-')],
      ['split by line breaks inside a JSON string', piece.match(/.{1,5}/g)!.join('\\n')],
      ['lower-cased', piece.toLowerCase()],
      ['upper-cased', piece.toUpperCase()],
      ['base64-encoded', Buffer.from(`{"token":"${piece}"}`).toString('base64')],
      ['base64url-encoded, two bytes in', Buffer.from(`ab${piece}`).toString('base64url')],
      ['percent-encoded', [...piece].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('')],
      ['hex-encoded', Buffer.from(piece).toString('hex')],
    ])('%s', (_name, disguised) => {
      expect(findLeaks(`{"level":"ERROR","message":"refused ${disguised}"}`, [issued])).not.toEqual([]);
    });

    it('a PEM body lower-cased', () => {
      const body = key.split('\n')[2]!;
      expect(findLeaks(`oops ${body.slice(10, 40).toLowerCase()}`, [key])).not.toEqual([]);
    });
  });

  it('stays quiet on clean output and on pieces shorter than 16 characters', () => {
    expect(
      findLeaks('{"level":"INFO","message":"revocation","tokenId":"to-aaaaa-bbbbb-cccccccccccccccc"}', [
        token,
        key,
        userAction,
      ]),
    ).toEqual([]);
    expect(findLeaks(`a piece ${token.slice(40, 55)} of 15`, [token])).toEqual([]);
    // Log lines full of IDs, digests, dates, base64 and percent-encoding, none of them secret.
    const lines = [
      '{"level":"INFO","message":"revocation","timestamp":"2026-12-03T17:36:30.123Z","function_request_id":"4d1f8a0e-6b2c-4e9a-8f3d-1c5b7a9e2d40"}',
      '{"xray_trace_id":"1-6756f1c2-9a3b5c7d1e2f4a6b8c0d2e4f","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}',
      `{"body":"${Buffer.from('{"tokenIds":["to-hnkqd-h81gs-0rm234jigbuftxwi"],"reason":"SIEM alert"}').toString('base64')}"}`,
      'PUT https://api.dfns.io/auth/pats/to-hnkqd-h81gs-0rm234jigbuftxwi/deactivate?note=SIEM%20alert%2042 → 200',
    ];
    expect(findLeaks(lines.join('\n'), [token, key, userAction])).toEqual([]);
  });
});
