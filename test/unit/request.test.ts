import { describe, expect, it } from '@jest/globals';
import { InvalidRequestError, MAX_BODY_BYTES, parseRequest, validateTokenId } from '../../functions/revoke-pats/request.js';

const ID = 'to-202a0-cdo33-o65mbt6q758lvvnt';

describe('validateTokenId', () => {
  it.each([
    [ID, ID],
    [` \t${ID}\n`, ID],
    ['to-aaaaa-bbbbb-cccccccccccccc', 'to-aaaaa-bbbbb-cccccccccccccc'],
  ])('accepts %j', (raw, tokenId) => {
    expect(validateTokenId(raw)).toEqual({ valid: true, tokenId });
  });

  it.each([
    [7, /not a string \(got number\)/],
    [null, /not a string \(got null\)/],
    [['x'], /not a string/],
    ['', /empty/],
    ['   ', /empty/],
    [ID.toUpperCase(), /upper-case/],
    [`${ID}\u200b`, /zero-width or non-ASCII/],
    [`to-202a0-cdo33-o65mbt6q758lvvn\u0442`, /non-ASCII/],
    [`${ID}\u00a0`, /non-ASCII/], // NBSP is not ASCII whitespace: refused, not trimmed
    [`../${ID}`, /path characters/],
    [`${ID}/deactivate`, /path characters/],
    ['to-aaaaa-bbbbb-ccc', /does not match/],
    ['to-aaaaa-bbbbb-ccccccccccccccccc', /does not match/],
  ])('refuses %j naming the rule', (raw, rule) => {
    const result = validateTokenId(raw);
    expect(result.valid).toBe(false);
    expect((result as { detail: string }).detail).toMatch(rule);
  });
});

describe('parseRequest', () => {
  it('reads tokenIds and the metadata', () => {
    expect(
      parseRequest(
        JSON.stringify({ tokenIds: [ID], incidentId: 'INC-1', reason: 'leak', requestedBy: 'playbook:x', dryRun: false }),
      ),
    ).toEqual({
      entries: [{ valid: true, tokenId: ID, raw: ID }],
      incidentId: 'INC-1',
      reason: 'leak',
      requestedBy: 'playbook:x',
      dryRun: false,
      warnings: [],
    });
  });

  it('reads tokenId, keeps invalid entries beside valid ones, and drops exact repeats', () => {
    const request = parseRequest(JSON.stringify({ tokenIds: [ID, ` ${ID}`, 'bad', 'bad', 3], tokenId: ID, dryRun: true }));
    expect(request.entries).toEqual([
      { valid: true, tokenId: ID, raw: ID },
      { valid: false, raw: 'bad', detail: expect.stringMatching(/does not match/) },
      { valid: false, raw: 3, detail: expect.stringMatching(/not a string/) },
    ]);
    expect(request.dryRun).toBe(true);
  });

  it('ignores metadata of the wrong type with a warning rather than delaying the revocation', () => {
    const request = parseRequest(JSON.stringify({ tokenId: ID, incidentId: 1042, reason: ['x'] }));
    expect(request.incidentId).toBeUndefined();
    expect(request.warnings).toEqual(['incidentId ignored: must be a string', 'reason ignored: must be a string']);
    expect(request.entries).toHaveLength(1);
  });

  it.each([
    ['', /empty/],
    ['  \n', /empty/],
    ['not json', /not JSON/],
    ['[]', /JSON object/],
    ['"to-202a0-cdo33-o65mbt6q758lvvnt"', /JSON object/],
    ['{}', /no token ID/],
    ['{"incidentId":"INC-1"}', /no token ID/],
    ['{"tokenIds":[]}', /no token ID/],
    [`{"tokenIds":"${ID}"}`, /tokenIds must be an array/],
    [`{"tokenId":"${ID}","dryRun":"true"}`, /dryRun must be a boolean/],
    [JSON.stringify({ tokenIds: Array(101).fill(ID) }), /101 token IDs; at most 100 per message: split/],
    [JSON.stringify({ tokenId: ID, reason: 'x'.repeat(MAX_BODY_BYTES) }), /at most 262144 bytes per message: split/],
  ])('refuses %j whole', (body, rule) => {
    expect(() => parseRequest(body)).toThrow(InvalidRequestError);
    expect(() => parseRequest(body)).toThrow(rule);
  });
});
