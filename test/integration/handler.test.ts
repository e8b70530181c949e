/**
 * The real handler end to end over real HTTP: the Dfns sandbox (verifying every signature), a loopback Secrets
 * Manager and a loopback SQS dead-letter queue. Each test asserts the sandbox's final token states, the exact
 * `batchItemFailures` and what reached the DLQ.
 */
import { describe, expect, it } from '@jest/globals';
import { newTokenId } from '../../tools/sandbox/ids.js';
import { dfnsError } from '../../tools/sandbox/faults.js';
import { instantClock } from '../support/clock.js';
import type { Captured } from '../support/stdout.js';
import { SECRET_ID, useWorld, type World } from '../support/world.js';

/** What every dead letter says of its record's sender (the events' SenderId) and send time. */
const SENT = { senderId: 'AROAEXAMPLE:playbook', sentAt: expect.any(String) };

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

const outcomes = () => output.audit().map((l) => [l.messageId, l.tokenId, l.outcome]);

describe('deactivation', () => {
  it.each(['ed25519', 'p256', 'rsa'] as const)('switches PATs off with a %s service-account key', async (kind) => {
    world.useAccount(kind);
    const tokens = world.sandbox.seedPats(3);
    const response = await world.handler()([
      { messageId: 'm1', body: { tokenIds: tokens.slice(0, 2), incidentId: 'INC-1', requestedBy: 'playbook:leak' } },
      { messageId: 'm2', body: { tokenIds: [tokens[2]], reason: 'PAT in a public repo' } },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([false, false, false]);
    expect(outcomes()).toEqual([
      ['m1', tokens[0], 'deactivated'],
      ['m1', tokens[1], 'deactivated'],
      ['m2', tokens[2], 'deactivated'],
    ]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
    expect(world.secrets.calls).toEqual([SECRET_ID]);
  });

  it('accepts the single tokenId form', async () => {
    const { tokenId } = world.sandbox.addPat();
    const response = await world.handler()([{ messageId: 'm1', body: { tokenId, incidentId: 'INC-2' } }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    expect(output.audit()).toEqual([
      expect.objectContaining({
        tokenId,
        outcome: 'deactivated',
        messageId: 'm1',
        incidentId: 'INC-2',
        orgId: world.sandbox.orgId,
      }),
    ]);
  });

  it('reports an already inactive PAT as deactivated (Dfns answers a repeat the same way)', async () => {
    const { tokenId } = world.sandbox.addPat({ isActive: false });
    const response = await world.handler()([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    expect(outcomes()).toEqual([['m1', tokenId, 'deactivated']]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('reports already_inactive when Dfns says so', async () => {
    const { tokenId } = world.sandbox.addPat({ isActive: false });
    world.sandbox.injectFault({ route: 'deactivate', respond: dfnsError(400, 'Token is already inactive') });
    const response = await world.handler()([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes()).toEqual([['m1', tokenId, 'already_inactive']]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('deactivates a token asked for by two records once, and reports it for both', async () => {
    const { tokenId } = world.sandbox.addPat();
    const other = world.sandbox.addPat().tokenId;
    const response = await world.handler()([
      { messageId: 'm1', body: { tokenIds: [tokenId, other] } },
      { messageId: 'm2', body: { tokenIds: [tokenId] } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(
      world.sandbox
        .requestsTo('deactivate')
        .map((r) => r.path)
        .sort(),
    ).toEqual([`/auth/pats/${tokenId}/deactivate`, `/auth/pats/${other}/deactivate`].sort());
    expect(outcomes()).toEqual([
      ['m1', tokenId, 'deactivated'],
      ['m1', other, 'deactivated'],
      ['m2', tokenId, 'deactivated'],
    ]);
  });

  it('makes no AWS or Dfns call for an empty batch', async () => {
    const response = await world.handler()([]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(world.secrets.calls).toEqual([]);
    expect(world.sandbox.requestCount).toBe(0);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('fetches the secret once per container, not per invocation or token', async () => {
    const handler = world.handler();
    await handler([{ body: { tokenIds: world.sandbox.seedPats(5) } }]);
    await handler([{ body: { tokenIds: world.sandbox.seedPats(5) } }]);
    expect(world.secrets.calls).toEqual([SECRET_ID]);
    const fetches = output.metrics().filter((m) => 'CredentialFetches' in m);
    expect(fetches.map((m) => m.CredentialFetches)).toEqual([1]);
  });
});

describe('safety: protected tokens, dry runs, approvals', () => {
  it('never deactivates a protected token: outcome protected, dead-lettered', async () => {
    const [guarded, normal] = world.sandbox.seedPats(2) as [string, string];
    const response = await world.handler({ PROTECTED_TOKEN_IDS: ` ${guarded} , to-zzzzz-zzzzz-zzzzzzzzzzzzzzzz` })([
      { messageId: 'm1', body: { tokenIds: [guarded, normal], incidentId: 'INC-5' } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(guarded)).toBe(true);
    expect(world.sandbox.isActive(normal)).toBe(false);
    expect(world.sandbox.requestsTo('init').map((r) => JSON.parse(r.body).userActionHttpPath)).toEqual([
      `/auth/pats/${normal}/deactivate`,
    ]);
    expect(await world.sqs.drainDeadLetters()).toEqual([
      {
        body: {
          tokenIds: [guarded],
          incidentId: 'INC-5',
          failures: [
            { tokenId: guarded, outcome: 'protected', detail: expect.stringContaining('PROTECTED_TOKEN_IDS') },
          ],
          sourceMessageId: 'm1',
          ...SENT, // who sent it and when, on every dead letter
        },
        attributes: { outcome: 'protected', sourceMessageId: 'm1' },
      },
    ]);
  });

  it('checks invalid before protected: a malformed ID is invalid even if it resembles a protected one', async () => {
    const { tokenId } = world.sandbox.addPat();
    const response = await world.handler({ PROTECTED_TOKEN_IDS: tokenId })([
      { messageId: 'm1', body: { tokenIds: [`${tokenId}/`, tokenId] } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes()).toEqual([
      ['m1', `${tokenId}/`, 'invalid'],
      ['m1', tokenId, 'protected'],
    ]);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
  });

  it('DRY_RUN=true deactivates nothing, and a request cannot turn it off', async () => {
    const tokens = world.sandbox.seedPats(2);
    const unknownId = newTokenId();
    const response = await world.handler({ DRY_RUN: 'true' })([
      { messageId: 'm1', body: { tokenIds: [tokens[0], unknownId], dryRun: false } },
      { messageId: 'm2', body: { tokenId: tokens[1] } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([true, true]);
    expect(world.sandbox.requestCount).toBe(0);
    // The credential is loaded even so (CONTRACT section 5): it names the token that must never be switched off.
    expect(world.secrets.calls).toEqual(['pat-revoker/dfns-credential']);
    expect(outcomes()).toEqual([
      ['m1', tokens[0], 'dry_run'],
      ['m1', unknownId, 'dry_run'],
      ['m2', tokens[1], 'dry_run'],
    ]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('dryRun: true makes one request safer without affecting the others', async () => {
    const [dry, wet] = world.sandbox.seedPats(2) as [string, string];
    const response = await world.handler()([
      { messageId: 'm1', body: { tokenIds: [dry, wet], dryRun: true } },
      { messageId: 'm2', body: { tokenIds: [wet] } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(dry)).toBe(true);
    expect(world.sandbox.isActive(wet)).toBe(false);
    expect(outcomes()).toEqual([
      ['m1', dry, 'dry_run'],
      ['m1', wet, 'dry_run'],
      ['m2', wet, 'deactivated'],
    ]);
  });

  it('a 202 (held for approval by a Dfns policy) is done, neither retried nor dead-lettered', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({
      route: 'deactivate',
      respond: { status: 202, body: { id: 'ap-123', status: 'Pending' } },
    });
    const response = await world.handler()([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    expect(output.audit()).toEqual([
      expect.objectContaining({ outcome: 'pending_approval', detail: expect.stringContaining('ap-123') }),
    ]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });
});

describe('concurrency', () => {
  it('runs at most MAX_CONCURRENCY deactivations at once, across records', async () => {
    world.sandbox.latencyMs = 15;
    try {
      const tokens = world.sandbox.seedPats(12);
      const response = await world.handler({ MAX_CONCURRENCY: '3' })(
        tokens.map((tokenId, i) => ({ messageId: `m${i}`, body: { tokenId } })),
      );
      expect(response.batchItemFailures).toEqual([]);
      expect(tokens.every((t) => world.sandbox.isActive(t) === false)).toBe(true);
      // Each token is a sequence of three requests, so requests in flight equal tokens in flight.
      expect(world.sandbox.maxInFlight).toBe(3);
    } finally {
      world.sandbox.latencyMs = 0;
    }
  });
});

describe('attribution: who sent each record, and what its envelope claims', () => {
  it("audit lines name the SenderId and send time, and an envelope's claims labelled as claims", async () => {
    const [a, b, c] = world.sandbox.seedPats(3) as [string, string, string];
    const topic = 'arn:aws:sns:eu-west-1:123456789012:siem-alerts';
    const response = await world.handler()([
      { messageId: 'plain', body: { tokenIds: [a], requestedBy: 'playbook:x' } },
      {
        messageId: 'sns',
        body: { Type: 'Notification', TopicArn: topic, Message: JSON.stringify({ tokenIds: [b] }) },
      },
      {
        messageId: 'eb',
        body: { 'detail-type': 'Leak', source: 'siem.leaks', account: '444444444444', detail: { tokenIds: [c] } },
      },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    const byRecord = Object.fromEntries(output.audit().map((l) => [l.messageId, l]));
    expect(byRecord.plain).toMatchObject({ ...SENT, requestedBy: 'playbook:x' });
    expect(byRecord.sns).toMatchObject({ ...SENT, claimedTopicArn: topic });
    expect(byRecord.eb).toMatchObject({
      ...SENT,
      claimedEventSource: 'siem.leaks',
      claimedEventAccount: '444444444444',
    });
    expect(Date.parse(byRecord.plain!.sentAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a claim that is not a short printable line is left out, never copied into a line', async () => {
    const [a] = world.sandbox.seedPats(1) as [string];
    await world.handler()([
      {
        messageId: 'sns',
        body: {
          Type: 'Notification',
          TopicArn: 'arn:x\n{"level":"ERROR"}',
          Message: JSON.stringify({ tokenIds: [a] }),
        },
      },
    ]);
    expect(output.audit()[0]).not.toHaveProperty('claimedTopicArn');
  });
});

describe('permanent failures go to the dead-letter queue', () => {
  it('dead-letters an unknown token as not_found and still deactivates the rest of the record', async () => {
    const known = world.sandbox.addPat().tokenId;
    const unknown = newTokenId();
    const response = await world.handler()([
      {
        messageId: 'm1',
        body: { tokenIds: [unknown, known], incidentId: 'INC-9', reason: 'leak', requestedBy: 'siem:rule-7' },
      },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(known)).toBe(false);
    expect(await world.sqs.drainDeadLetters()).toEqual([
      {
        body: {
          tokenIds: [unknown],
          incidentId: 'INC-9',
          reason: 'leak',
          requestedBy: 'siem:rule-7',
          failures: [{ tokenId: unknown, outcome: 'not_found', detail: expect.stringMatching(/HTTP 404/) }],
          sourceMessageId: 'm1',
          ...SENT, // who sent it and when, on every dead letter
        },
        attributes: { outcome: 'not_found', sourceMessageId: 'm1' },
      },
    ]);
    expect(outcomes()).toEqual([
      ['m1', unknown, 'not_found'],
      ['m1', known, 'deactivated'],
    ]);
  });

  it('follows the CONTRACT section 6 example: unknown + deactivated + two invalid values → one mixed message', async () => {
    const unknown = 'to-aaaaa-bbbbb-cccccccccccccccc';
    const known = world.sandbox.addPat({ tokenId: 'to-ddddd-eeeee-ffffffffffffffff' }).tokenId;
    const response = await world.handler()([
      { messageId: 'm9', body: `{"tokenIds":["${unknown}","${known}"," TO-X",7],"incidentId":"INC-9"}` },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(known)).toBe(false);
    const [message, ...more] = await world.sqs.drainDeadLetters();
    expect(more).toEqual([]);
    expect(message).toEqual({
      body: {
        tokenIds: [unknown],
        incidentId: 'INC-9',
        failures: [
          { tokenId: unknown, outcome: 'not_found', detail: expect.stringContaining('404') },
          { tokenId: ' TO-X', outcome: 'invalid', detail: expect.stringContaining('does not match ^to-') },
          { tokenId: 7, outcome: 'invalid', detail: expect.stringContaining('not a string') },
        ],
        sourceMessageId: 'm9',
        ...SENT, // who sent it and when, on every dead letter
      },
      attributes: { outcome: 'mixed', sourceMessageId: 'm9' },
    });
  });

  it('dead-letters a malformed record as invalid, with its body, and processes the good records around it', async () => {
    const [a, b] = world.sandbox.seedPats(2);
    const response = await world.handler()([
      { messageId: 'good-1', body: { tokenIds: [a] } },
      { messageId: 'bad', body: '{"tokenIds": ["to-' },
      { messageId: 'good-2', body: { tokenId: b } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect([world.sandbox.isActive(a!), world.sandbox.isActive(b!)]).toEqual([false, false]);
    expect(await world.sqs.drainDeadLetters()).toEqual([
      {
        body: {
          tokenIds: [],
          failures: [{ tokenId: null, outcome: 'invalid', detail: expect.stringMatching(/not JSON/) }],
          sourceMessageId: 'bad',
          ...SENT, // who sent it and when, on every dead letter
          body: '{"tokenIds": ["to-',
        },
        attributes: { outcome: 'invalid', sourceMessageId: 'bad' },
      },
    ]);
  });

  it.each([
    ['an empty body', ''],
    ['an empty object', '{}'],
    ['only metadata', '{"incidentId":"INC-3","reason":"leak"}'],
    ['an empty token list', '{"tokenIds":[]}'],
  ])('never acknowledges %s silently: it is dead-lettered as invalid', async (_name, body) => {
    const response = await world.handler()([{ messageId: 'm1', body }]);
    expect(response.batchItemFailures).toEqual([]);
    const dead = await world.sqs.drainDeadLetters();
    expect(dead).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({
          tokenIds: [],
          failures: [{ tokenId: null, outcome: 'invalid', detail: expect.stringMatching(/no token ID|empty/) }],
          sourceMessageId: 'm1',
          ...SENT, // who sent it and when, on every dead letter
        }),
        attributes: { outcome: 'invalid', sourceMessageId: 'm1' },
      }),
    ]);
    expect(world.sandbox.requestCount).toBe(0);
    // Powertools drops null fields: the line has no tokenId and the detail says why.
    expect(outcomes()).toEqual([['m1', undefined, 'invalid']]);
  });

  it('dead-letters a token Dfns refuses (403 on the PUT) as rejected', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'deactivate', respond: dfnsError(403, 'Forbidden: not your PAT') });
    const response = await world.handler()([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    const [message] = await world.sqs.drainDeadLetters();
    expect(message).toMatchObject({
      body: {
        tokenIds: [tokenId],
        failures: [{ tokenId, outcome: 'rejected', detail: expect.stringContaining('not your PAT') }],
      },
      attributes: { outcome: 'rejected' },
    });
  });

  it('retries the record when the dead-letter send fails, instead of losing its failures', async () => {
    const unknown = newTokenId();
    const handler = world.handler({ DEAD_LETTER_QUEUE_URL: `${world.sqs.deadLetterQueueUrl}-missing` });
    const response = await handler([{ messageId: 'm1', body: { tokenIds: [unknown] } }]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(output.json().some((l) => l.level === 'ERROR' && /dead-letter send failed/.test(l.message))).toBe(true);
  });
});

describe('hostile and odd input never fails the batch', () => {
  it('a poison record nested too deep to serialise is dead-lettered; the good records around it are done', async () => {
    const [a, b] = world.sandbox.seedPats(2) as [string, string];
    const poison = `{"tokenIds":["${b}",${'['.repeat(50_000)}${']'.repeat(50_000)}],"incidentId":"INC-P"}`;
    const response = await world.handler()([
      { messageId: 'good', body: { tokenIds: [a] } },
      { messageId: 'poison', body: poison },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect([world.sandbox.isActive(a), world.sandbox.isActive(b)]).toEqual([false, false]);
    expect(await world.sqs.drainDeadLetters()).toEqual([
      {
        body: {
          tokenIds: [],
          incidentId: 'INC-P',
          failures: [
            { tokenId: '<array not copied: nested too deep>', outcome: 'invalid', detail: 'not a string (got object)' },
          ],
          sourceMessageId: 'poison',
          ...SENT, // who sent it and when, on every dead letter
        },
        attributes: { outcome: 'invalid', sourceMessageId: 'poison' },
      },
    ]);
  });

  it('a refused request keeps its metadata in the dead-letter message', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `to-aaaaa-bbbbb-${String(i).padStart(14, '0')}`);
    await world.handler()([
      { messageId: 'm1', body: { tokenIds: ids, incidentId: 'INC-7', reason: 'mass leak', requestedBy: 'siem' } },
    ]);
    const [message] = await world.sqs.drainDeadLetters();
    expect(message!.body).toMatchObject({
      tokenIds: [],
      incidentId: 'INC-7',
      reason: 'mass leak',
      requestedBy: 'siem',
      failures: [
        {
          tokenId: null,
          outcome: 'invalid',
          detail: expect.stringMatching(/101 token IDs; at most 100 per message: split/),
        },
      ],
    });
    expect(world.sandbox.requestCount).toBe(0);
  });

  it('a large unparseable body is kept only in part, so its dead-letter message still fits SQS', async () => {
    const body = '"'.repeat(200 * 1024);
    const response = await world.handler()([{ messageId: 'm1', body }]);
    expect(response.batchItemFailures).toEqual([]);
    const [message] = await world.sqs.drainDeadLetters();
    const kept = message!.body as { body: string; bodyTruncated: boolean };
    expect(kept.bodyTruncated).toBe(true);
    expect(body.startsWith(kept.body)).toBe(true);
    expect(JSON.stringify(message!.body).length).toBeLessThan(70 * 1024);
  });

  it('a body over 256 KB is dead-lettered whole, telling to split it', async () => {
    const { tokenId } = world.sandbox.addPat();
    // Words, not one run: a run of over 64 base64 characters is shown only as a fingerprint, and would not be cut.
    const body = JSON.stringify({ tokenIds: [tokenId], reason: 'many words '.repeat(28 * 1024) });
    const response = await world.handler()([{ messageId: 'big', body }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    const [message] = await world.sqs.drainDeadLetters();
    expect(message!.body).toMatchObject({
      tokenIds: [],
      failures: [
        {
          tokenId: null,
          outcome: 'invalid',
          detail: expect.stringMatching(/at most 262144 bytes per message: split the request/),
        },
      ],
      bodyTruncated: true,
    });
  });

  it('logs a warning for ignored metadata and goes on', async () => {
    const { tokenId } = world.sandbox.addPat();
    const response = await world.handler()([{ messageId: 'm1', body: { tokenId, incidentId: 1042 } }]);
    expect(response.batchItemFailures).toEqual([]);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    expect(output.json().find((l) => l.level === 'WARN')).toMatchObject({
      message: 'request fields ignored or cut',
      messageId: 'm1',
      warnings: ['incidentId ignored: must be a string'],
    });
  });
});

describe('transient failures retry the record', () => {
  it('a hung PUT ends failed through the request timeout; only its record is retried', async () => {
    const [hung, fine] = world.sandbox.seedPats(2) as [string, string];
    world.sandbox.injectFault({ route: 'deactivate', tokenId: hung, hang: true });
    const response = await world.handler({ DFNS_REQUEST_TIMEOUT_MS: '200', DFNS_MAX_ATTEMPTS: '1' })([
      { messageId: 'm-hung', body: { tokenIds: [hung] } },
      { messageId: 'm-fine', body: { tokenIds: [fine] } },
    ]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-hung' }] });
    expect(world.sandbox.isActive(hung)).toBe(true);
    expect(world.sandbox.isActive(fine)).toBe(false);
    expect(output.audit().find((l) => l.tokenId === hung)).toMatchObject({
      outcome: 'failed',
      detail: expect.stringMatching(/no answer within 200 ms/),
    });
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('retries a record with a transient failure whole, dead-lettering nothing yet', async () => {
    const known = world.sandbox.addPat().tokenId;
    const unknown = newTokenId();
    world.sandbox.injectFault({ route: 'init', tokenId: known, times: 2, respond: { status: 503 } });
    const response = await world.handler(
      { DFNS_MAX_ATTEMPTS: '2' },
      { clock: instantClock() },
    )([{ messageId: 'm1', body: { tokenIds: [known, unknown] } }]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
    expect(outcomes()).toEqual([
      ['m1', known, 'failed'],
      ['m1', unknown, 'not_found'],
    ]);
  });

  it('treats a 200 that still says isActive: true as failed', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({
      route: 'deactivate',
      times: 3,
      respond: { status: 200, body: { tokenId, isActive: true } },
    });
    const response = await world.handler(
      {},
      { clock: instantClock() },
    )([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(output.audit()[0]).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/isActive: true/) });
  });
});

describe('the credential', () => {
  it('is fetched again once on a 401 after rotation, shared by every token that met it', async () => {
    const handler = world.handler();
    await handler([{ body: { tokenIds: world.sandbox.seedPats(1) } }]); // caches the old credential
    const old = world.secret;
    world.useAccount('p256'); // the operator rotates the secret to a new service account ...
    world.sandbox.revokeAuthToken(old.authToken); // ... and the old token stops working
    world.secrets.calls.length = 0;

    const tokens = world.sandbox.seedPats(6);
    const response = await handler([
      { messageId: 'm1', body: { tokenIds: tokens.slice(0, 3) } },
      { messageId: 'm2', body: { tokenIds: tokens.slice(3) } },
    ]);
    expect(response.batchItemFailures).toEqual([]);
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual(Array(6).fill(false));
    expect(world.secrets.calls).toEqual([SECRET_ID]);
    expect(world.sandbox.requestsTo('init').filter((r) => r.status === 401).length).toBeGreaterThan(0);
  });

  it('Secrets Manager down: one GetSecretValue per invocation, not one per token', async () => {
    world.secrets.injectFault({ type: 'AccessDeniedException', times: 10 });
    const tokens = world.sandbox.seedPats(5);
    const response = await world.handler({ MAX_CONCURRENCY: '1' })(
      tokens.map((tokenId, i) => ({ messageId: `m${i}`, body: { tokenId } })),
    );
    expect(response.batchItemFailures).toHaveLength(5);
    expect(world.secrets.calls).toEqual([SECRET_ID]);
    expect(world.sandbox.requestCount).toBe(0);
  });

  it('a failed refetch after a 401 is not retried by later tokens: at most two fetches per invocation', async () => {
    world.sandbox.revokeAuthToken(world.secret.authToken);
    world.secrets.injectFault({ type: 'AccessDeniedException', skip: 1 }); // the first fetch works, the refetch fails
    const tokens = world.sandbox.seedPats(3);
    const response = await world.handler({ MAX_CONCURRENCY: '1' })(
      tokens.map((tokenId, i) => ({ messageId: `m${i}`, body: { tokenId } })),
    );
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: 'm0' },
      { itemIdentifier: 'm1' },
      { itemIdentifier: 'm2' },
    ]);
    expect(world.secrets.calls).toEqual([SECRET_ID, SECRET_ID]);
    expect(world.sandbox.requestsTo('init')).toHaveLength(1); // tokens 2 and 3 never started with a bad credential
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([true, true, true]);
  });

  it('still rejected after the refetch: failed and retried, with one refetch per invocation', async () => {
    const handler = world.handler();
    world.sandbox.revokeAuthToken(world.secret.authToken); // not rotated: the secret still holds the dead token
    const tokens = world.sandbox.seedPats(4);
    const response = await handler([{ messageId: 'm1', body: { tokenIds: tokens } }]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(world.secrets.calls).toEqual([SECRET_ID, SECRET_ID]);
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual(Array(4).fill(true));
    for (const line of output.audit()) {
      expect(line).toMatchObject({ outcome: 'failed', detail: expect.stringMatching(/401.*still rejected/) });
    }
    expect(output.json().filter((l) => l.level === 'ERROR')).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/credential still rejected by Dfns after fetching the secret again/),
        tokens: 4,
      }),
    ]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it.each([
    ['malformed', () => world.secrets.setSecret(SECRET_ID, '{"authToken":"x","credId":"y"}'), /privateKey/],
    ['not JSON', () => world.secrets.setSecret(SECRET_ID, 'authToken=x'), /SecretString is not JSON/],
    ['missing', () => world.secrets.deleteSecret(SECRET_ID), /ResourceNotFoundException/],
    ['access denied', () => world.secrets.injectFault({ type: 'AccessDeniedException' }), /AccessDeniedException/],
  ])('%s: every record of the batch is retried, nothing is dead-lettered', async (_name, breakIt, message) => {
    breakIt();
    const tokens = world.sandbox.seedPats(2);
    const response = await world.handler()([
      { messageId: 'm1', body: { tokenIds: [tokens[0]] } },
      { messageId: 'm2', body: { tokenIds: [tokens[1], 'not-a-token'] } },
      { messageId: 'm3', body: 'garbage' },
    ]);
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: 'm1' },
      { itemIdentifier: 'm2' },
      { itemIdentifier: 'm3' },
    ]);
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([true, true]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
    const problem = output.json().find((l) => l.level === 'ERROR');
    expect(problem).toMatchObject({
      message: expect.stringMatching(/credential unusable/),
      error: expect.stringMatching(message),
    });
  });
});

describe('metrics (CONTRACT section 7)', () => {
  it('counts outcomes by Outcome dimension, with latency and credential fetches', async () => {
    const tokens = world.sandbox.seedPats(2);
    await world.handler()([{ body: { tokenIds: [...tokens, newTokenId(), 'bad'] } }]);
    const blobs = output.metrics();
    const revocations = blobs
      .filter((b) => 'Revocations' in b)
      .map((b) => ({ outcome: b.Outcome, count: b.Revocations, dims: b._aws.CloudWatchMetrics[0].Dimensions[0] }));
    expect(revocations.sort((x, y) => x.outcome.localeCompare(y.outcome))).toEqual([
      { outcome: 'deactivated', count: 2, dims: ['service', 'Outcome'] },
      { outcome: 'invalid', count: 1, dims: ['service', 'Outcome'] },
      { outcome: 'not_found', count: 1, dims: ['service', 'Outcome'] },
    ]);
    const main = blobs.find((b) => 'DeactivationLatency' in b)!;
    expect(main._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'PatRevoker',
      Dimensions: [['service']],
      Metrics: expect.arrayContaining([
        { Name: 'DeactivationLatency', Unit: 'Milliseconds' },
        { Name: 'CredentialFetches', Unit: 'Count' },
      ]),
    });
    expect(main.service).toBe('pat-revoker');
    expect(main.DeactivationLatency).toHaveLength(3); // two successes and the 404, all reached the PUT
    for (const blob of blobs) {
      for (const key of Object.keys(blob)) expect(['tokenId', 'messageId', 'incidentId']).not.toContain(key);
    }
  });
});
