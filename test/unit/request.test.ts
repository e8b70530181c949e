import { describe, expect, it } from '@jest/globals';
import { InvalidRequestError, MAX_BODY_BYTES, parseRequest } from '../../functions/revoke-pats/request.js';
import { shownSecret } from '../../functions/lib/secret-values.js';
import { validateTokenId } from '../../functions/revoke-pats/token-entry.js';

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
        JSON.stringify({
          tokenIds: [ID],
          incidentId: 'INC-1',
          reason: 'leak',
          requestedBy: 'playbook:x',
          dryRun: false,
        }),
      ),
    ).toEqual({
      source: 'json',
      entries: [{ valid: true, tokenId: ID, raw: ID }],
      incidentId: 'INC-1',
      reason: 'leak',
      requestedBy: 'playbook:x',
      dryRun: false,
      warnings: [],
    });
  });

  it('reads tokenId, keeps invalid entries beside valid ones, and drops exact repeats', () => {
    const request = parseRequest(
      JSON.stringify({ tokenIds: [ID, ` ${ID}`, 'bad', 'bad', 3], tokenId: ID, dryRun: true }),
    );
    expect(request.entries).toEqual([
      { valid: true, tokenId: ID, raw: ID },
      { valid: false, raw: 'bad', detail: expect.stringMatching(/does not match/) },
      { valid: false, raw: 3, detail: expect.stringMatching(/not a string/) },
    ]);
    expect(request.dryRun).toBe(true);
  });

  it('counts token IDs after dropping repeats: the same ID 150 times is one', () => {
    expect(parseRequest(JSON.stringify({ tokenIds: Array(150).fill(ID) })).entries).toEqual([
      { valid: true, tokenId: ID, raw: ID },
    ]);
  });

  it('survives a raw value nested too deep to serialise, and a huge array, without throwing', () => {
    const deep = `{"tokenIds":["${ID}",${'['.repeat(50_000)}${']'.repeat(50_000)}]}`;
    const request = parseRequest(deep);
    expect(request.entries).toEqual([
      { valid: true, tokenId: ID, raw: ID },
      { valid: false, raw: '<array not copied: nested too deep>', detail: 'not a string (got object)' },
    ]);
    const zeros = `{"tokenIds":[${Array(120_000).fill('0').join(',')}]}`;
    expect(parseRequest(zeros).entries).toEqual([{ valid: false, raw: 0, detail: 'not a string (got number)' }]);
  });

  it('keeps small objects as received and describes large ones', () => {
    const request = parseRequest(JSON.stringify({ tokenIds: [{ id: ID }, { blob: 'x'.repeat(2000) }] }));
    expect(request.entries.map((e) => e.raw)).toEqual([{ id: ID }, '<object not copied: 2011 characters of JSON>']);
  });

  it('treats null as "not set" for tokenId, tokenIds and dryRun', () => {
    const request = parseRequest(JSON.stringify({ tokenIds: [ID], tokenId: null, dryRun: null }));
    expect(request.entries).toHaveLength(1);
    expect(request.dryRun).toBe(false);
    expect(() => parseRequest('{"tokenIds":null,"tokenId":null}')).toThrow(/no token ID/);
  });

  it('keeps the metadata of a refused request for its dead-letter message', () => {
    let caught: InvalidRequestError | undefined;
    try {
      parseRequest(
        JSON.stringify({ tokenIds: 'x', incidentId: 'INC-7', reason: 'leak', requestedBy: 'siem', dryRun: true }),
      );
    } catch (error) {
      caught = error as InvalidRequestError;
    }
    expect(caught?.metadata).toEqual({ incidentId: 'INC-7', reason: 'leak', requestedBy: 'siem', dryRun: true });
  });

  it('cuts long metadata without splitting a surrogate pair, and says so', () => {
    const reason = `${'r'.repeat(999)}\u{1F510}tail`;
    const request = parseRequest(JSON.stringify({ tokenId: ID, reason }));
    expect(request.reason).toBe('r'.repeat(999));
    expect(request.warnings).toEqual(['reason cut to 1000 characters']);
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
    ['{"tokenIds": [', /not JSON/],
    ['[]', /JSON object/],
    ['42', /JSON object/],
    ['{}', /no token ID/],
    ['{"incidentId":"INC-1"}', /no token ID/],
    ['{"tokenIds":[]}', /no token ID/],
    [`{"tokenIds":"${ID}"}`, /tokenIds must be an array/],
    [`{"tokenId":"${ID}","dryRun":"true"}`, /dryRun must be a boolean/],
    [
      JSON.stringify({
        tokenIds: Array.from({ length: 101 }, (_, i) => `to-aaaaa-bbbbb-${String(i).padStart(14, '0')}`),
      }),
      /101 token IDs; at most 100 per message: split/,
    ],
    [JSON.stringify({ tokenId: ID, reason: 'x'.repeat(MAX_BODY_BYTES) }), /at most 262144 bytes per message: split/],
  ])('refuses %j whole', (body, rule) => {
    expect(() => parseRequest(body)).toThrow(InvalidRequestError);
    expect(() => parseRequest(body)).toThrow(rule);
  });
});

describe('parseRequest: formats (detected by shape, one level unwrapped)', () => {
  const ID2 = 'to-aaaaa-bbbbb-cccccccccccccccc';
  const sns = (message: string) =>
    JSON.stringify({ Type: 'Notification', MessageId: 'x', TopicArn: 'arn:aws:sns:eu-west-1:1:t', Message: message });
  const event = (detail: unknown) =>
    JSON.stringify({ version: '0', id: 'e', 'detail-type': 'Leaked PAT', source: 'siem', detail });

  it.each([
    ['the JSON request', JSON.stringify({ tokenIds: [ID], incidentId: 'INC-1' }), 'json', 'INC-1'],
    ['SNS, request in Message', sns(JSON.stringify({ tokenIds: [ID], incidentId: 'INC-2' })), 'sns', 'INC-2'],
    ['SNS, plain text in Message', sns(`${ID}\n`), 'sns', undefined],
    ['EventBridge, request in detail', event({ tokenId: ID, incidentId: 'INC-3' }), 'eventbridge', 'INC-3'],
    ['plain text', `  ${ID}  `, 'text', undefined],
  ])('%s', (_name, body, source, incidentId) => {
    const request = parseRequest(body);
    expect(request.source).toBe(source);
    expect(request.entries).toEqual([{ valid: true, tokenId: ID, raw: expect.any(String) }]);
    expect(request.incidentId).toBe(incidentId);
  });

  it('plain text: token IDs separated by whitespace or commas; every piece validated', () => {
    const request = parseRequest(`${ID}, ${ID2}\n${ID}\tTO-BAD,`);
    expect(request.entries.map((e) => (e.valid ? e.tokenId : `invalid:${String(e.raw)}`))).toEqual([
      ID,
      ID2,
      'invalid:TO-BAD',
    ]);
  });

  it('unwraps one level only: an SNS notification inside an SNS Message is not a request', () => {
    expect(() => parseRequest(sns(sns(JSON.stringify({ tokenIds: [ID] }))))).toThrow(/no token ID/);
  });

  it('decodes base64 only when contentEncoding says so', () => {
    const encoded = Buffer.from(JSON.stringify({ tokenIds: [ID] })).toString('base64');
    expect(parseRequest(encoded, { contentEncoding: 'base64' })).toMatchObject({
      source: 'json+base64',
      entries: [{ tokenId: ID }],
    });
    // without the attribute the same bytes are plain text, and not a token ID: never guessed (and, a long run of
    // base64, shown only as a fingerprint: it could as well be a key)
    expect(parseRequest(encoded).entries).toEqual([
      { valid: false, raw: shownSecret(encoded), detail: expect.stringMatching(/possibly a secret/) },
    ]);
    expect(() => parseRequest('%%%', { contentEncoding: 'base64' })).toThrow(/not base64/);
    expect(() => parseRequest(encoded, { contentEncoding: 'gzip' })).toThrow(/contentEncoding "gzip" is not supported/);
  });

  it.each([
    ['an SNS Message that is broken JSON', sns('{"tokenIds":['), /SNS Message is not JSON/],
    ['an SNS Message that is an array', sns('["x"]'), /SNS Message must hold a request/],
    [
      'an EventBridge event whose detail is not an object',
      event('to-x'),
      /EventBridge detail must be a request object/,
    ],
    ['an EventBridge event without a token ID', event({ incidentId: 'INC-9' }), /no token ID/],
  ])('refuses %s', (_name, body, rule) => {
    expect(() => parseRequest(body)).toThrow(rule);
  });

  it('keeps the source and metadata of a refused envelope', () => {
    try {
      parseRequest(event({ incidentId: 'INC-9', tokenIds: 'x' }));
      throw new Error('expected a refusal');
    } catch (error) {
      expect(error).toMatchObject({ source: 'eventbridge', metadata: { incidentId: 'INC-9' } });
    }
  });
});

describe('parseRequest: what a review found', () => {
  const A = 'to-aaaaa-bbbbb-cccccccccccccccc';
  const B = 'to-ddddd-eeeee-ffffffffffffffff';
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  it('a body naming token IDs is a request, even with an envelope-looking field', () => {
    const snsLike = parseRequest(
      JSON.stringify({ Type: 'Notification', Message: 'Leaked PAT found', tokenIds: [A], incidentId: 'INC-1' }),
    );
    expect(snsLike).toMatchObject({ source: 'json', incidentId: 'INC-1', entries: [{ valid: true, tokenId: A }] });
    const eventLike = parseRequest(
      JSON.stringify({ source: 'playbook', 'detail-type': 'revoke', detail: {}, tokenId: B }),
    );
    expect(eventLike).toMatchObject({ source: 'json', entries: [{ valid: true, tokenId: B }] });
  });

  it('a body too large is refused whole but keeps its metadata', () => {
    const body = JSON.stringify({
      tokenIds: [A],
      incidentId: 'INC-3',
      requestedBy: 'siem',
      dryRun: true,
      reason: 'x'.repeat(300_000),
    });
    expect(() => parseRequest(body)).toThrow(
      expect.objectContaining({
        metadata: expect.objectContaining({ incidentId: 'INC-3', requestedBy: 'siem', dryRun: true }),
      }),
    );
  });

  it('base64: a real U+FFFD is text; the attribute is case-insensitive; URL-safe or unpadded base64 is refused', () => {
    expect(
      parseRequest(b64(JSON.stringify({ tokenIds: [A], reason: 'bad \uFFFD char' })), { contentEncoding: 'base64' })
        .reason,
    ).toBe('bad \uFFFD char');
    expect(parseRequest(b64(A), { contentEncoding: ' BASE64 ' })).toMatchObject({
      source: 'text+base64',
      entries: [{ tokenId: A }],
    });
    expect(() =>
      parseRequest(Buffer.from([0xfb, 0xff, 0xbf]).toString('base64url'), { contentEncoding: 'base64' }),
    ).toThrow(/not base64/);
    expect(() => parseRequest(b64(A).replace(/=+$/, '').slice(0, -1), { contentEncoding: 'base64' })).toThrow(
      /not base64/,
    );
    expect(() => parseRequest(Buffer.from([0xc3, 0x28]).toString('base64'), { contentEncoding: 'base64' })).toThrow(
      /not UTF-8/,
    );
  });

  it('a byte-order mark is not content, plain or base64', () => {
    expect(parseRequest(`\uFEFF${JSON.stringify({ tokenIds: [A] })}`)).toMatchObject({
      source: 'json',
      entries: [{ tokenId: A }],
    });
    expect(parseRequest(b64(`\uFEFF${JSON.stringify({ tokenIds: [A] })}`), { contentEncoding: 'base64' }).source).toBe(
      'json+base64',
    );
  });

  it('plain text splits on ASCII whitespace and commas only: a non-breaking space stays, and makes the value invalid', () => {
    const request = parseRequest(`${A}\u00a0${B}\n${B}`);
    expect(request.entries.map((e) => e.valid)).toEqual([false, true]);
  });

  it('a huge invalid string is fingerprinted, not copied, and its shown start is printable', () => {
    const request = parseRequest(`to-${'\u0001'.repeat(5000)}`);
    expect(request.entries).toEqual([
      { valid: false, raw: expect.stringMatching(/^to-\?{5}…sha256:[0-9a-f]{64}$/), detail: expect.any(String) },
    ]);
  });

  it('an SNS Message that is a JSON string is text, not unwrapped a second level', () => {
    const request = parseRequest(JSON.stringify({ Type: 'Notification', Message: JSON.stringify(A) }));
    expect(request.entries).toEqual([{ valid: false, raw: JSON.stringify(A), detail: expect.any(String) }]);
  });

  it('the limit counts token IDs: 100 valid ones and a header word pass; 101 valid ones in plain text do not', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `to-aaaaa-bbbbb-${String(i).padStart(14, '0')}`);
    expect(parseRequest(`Tokens: ${ids.join(' ')}`).entries).toHaveLength(101);
    expect(() => parseRequest(`${ids.join(' ')} to-aaaaa-bbbbb-99999999999999`)).toThrow(/101 token IDs; at most 100/);
  });

  it('shapes are exact: not an SNS Type, or an event without source, is a plain JSON object', () => {
    expect(() => parseRequest(JSON.stringify({ Type: 'SubscriptionConfirmation', Message: A }))).toThrow(/no token ID/);
    expect(() => parseRequest(JSON.stringify({ 'detail-type': 'x', detail: { tokenIds: [A] } }))).toThrow(
      /no token ID/,
    );
    expect(parseRequest(JSON.stringify(`${A} ${B}`)).source).toBe('text');
  });

  it('a refused base64 envelope keeps the encoding in its source', () => {
    const body = b64(JSON.stringify({ 'detail-type': 'x', source: 's', detail: 'no' }));
    expect(() => parseRequest(body, { contentEncoding: 'base64' })).toThrow(
      expect.objectContaining({ source: 'eventbridge+base64' }),
    );
  });
});
