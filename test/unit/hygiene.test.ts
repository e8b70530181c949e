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

  it('stays quiet on clean output and on pieces shorter than 16 characters', () => {
    expect(
      findLeaks('{"level":"INFO","message":"revocation","tokenId":"to-aaaaa-bbbbb-cccccccccccccccc"}', [
        token,
        key,
        userAction,
      ]),
    ).toEqual([]);
    expect(findLeaks(`a piece ${token.slice(40, 55)} of 15`, [token])).toEqual([]);
  });
});
