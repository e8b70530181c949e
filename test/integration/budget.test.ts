import { createHash } from 'node:crypto';
/**
 * The request budget and continuations (CONTRACT section 8) through the real handler, with records really received
 * from a loopback SQS (real receipt handles, attributes and eventSourceARN) and the Dfns sandbox. Budget waits run
 * on a virtual clock unless a test is about real windows against the sandbox's organisation limit.
 */
import { DeleteMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { dfnsError } from '../../tools/sandbox/faults.js';
import { virtualClock } from '../support/clock.js';
import { captureOutput, type Captured } from '../support/stdout.js';
import { FUNCTION_ROLE_ID, FUNCTION_SENDER_ID, useWorld, type World } from '../support/world.js';

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

// A queue of its own for each test: delayed and in-flight messages of one never reach another.
let queueUrl: string;
let queues = 0;
beforeEach(async () => {
  queues += 1;
  queueUrl = await world.sqs.createQueue(`pat-revoker-requests-${queues}`);
  world.sandbox.limitRate(undefined);
});

/** Puts a request on the queue (`from` a playbook, unless told) and receives it back as Lambda would deliver it. */
async function deliver(body: unknown, from: SQSClient = world.sqs.client) {
  await from.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
  return world.sqs.receiveEvent(queueUrl);
}

/** What Lambda's event source does with the answer: deletes the records it acknowledges. */
async function acknowledge(event: SQSEvent, response: SQSBatchResponse) {
  const retried = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  for (const record of event.Records) {
    if (retried.has(record.messageId)) continue;
    await world.sqs.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle }));
  }
}

/** An SQS client that refuses sends to `url` only (dead letters and the source proof still go through). */
function refusingSendsTo(url: string): SQSClient {
  const sqs = new SQSClient({});
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      const refused =
        context.commandName === 'SendMessageCommand' && (args.input as { QueueUrl?: string }).QueueUrl === url;
      if (refused) throw new Error('AccessDenied (simulated)');
      return next(args);
    },
    { step: 'initialize', name: 'refuseContinuations' },
  );
  return sqs;
}

/** The continuation on the queue, once its delay has passed. */
async function nextContinuation(waitSeconds = 3) {
  const event = await world.sqs.receiveEvent(queueUrl, 10, waitSeconds);
  expect(event.Records).toHaveLength(1);
  return { event, body: JSON.parse(event.Records[0]!.body) };
}

/**
 * A small share: 360 requests per minute over one-second windows is 6 requests, two tokens, per window. The function
 * sends to the loopback SQS as its own role (FUNCTION_ROLE_ID), so the continuations it reads back are believed.
 */
const SMALL = {
  DFNS_REQUESTS_PER_MINUTE: '360',
  DFNS_BUDGET_WINDOW_SECONDS: '1',
  FUNCTION_ROLE_ID,
};
const outcomes = () => output.audit().map((l) => [l.tokenId, l.outcome]);
const puts = (tokenId: string) => world.sandbox.requestsTo('deactivate').filter((r) => r.path.includes(tokenId));
/** Every value of an EMF metric (a blob holds one value, or a list of them). */
const metric = (name: string): number[] =>
  output.metrics().flatMap((m) => (m[name] === undefined ? [] : [m[name]].flat()));

describe('continuations: late, not failed, not dead-lettered', () => {
  it('hands the tokens the budget cannot start to a delayed continuation, then the chain finishes them', async () => {
    const tokens = world.sandbox.seedPats(5);
    const event = await deliver({ tokenIds: tokens, incidentId: 'INC-C', reason: 'leak', requestedBy: 'playbook:x' });
    const original = event.Records[0]!;
    const env = { ...SMALL, SOURCE_QUEUE_URLS: queueUrl };
    const handler = world.eventHandler(env, { clock: virtualClock() });

    const response = await handler(event, 1_900);
    expect(response).toEqual({ batchItemFailures: [] }); // acknowledged
    await acknowledge(event, response);
    expect(outcomes()).toEqual([
      [tokens[0], 'deactivated'],
      [tokens[1], 'deactivated'],
      ...tokens.slice(2).map((t) => [t, 'continued']),
    ]);
    expect(output.audit()[2]!.detail).toMatch(
      /^continued in message \S+, delayed 1 s: not started: the Dfns request budget/,
    );
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([false, false, true, true, true]);
    expect(await world.sqs.depth(queueUrl)).toMatchObject({ delayed: 1 });
    expect(metric('Continuations')).toEqual([1]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);

    const first = await nextContinuation();
    expect(first.body).toEqual({
      tokenIds: tokens.slice(2),
      incidentId: 'INC-C',
      reason: 'leak',
      requestedBy: 'playbook:x',
      continuationOf: original.messageId,
      firstRequestedAt: new Date(Number(original.attributes.SentTimestamp)).toISOString(),
      continuationCount: 1,
      originalSenderId: original.attributes.SenderId,
      originalSentAt: new Date(Number(original.attributes.SentTimestamp)).toISOString(),
    });

    // The chain goes on in other containers, keeping the original's identity, until every token is off; its audit
    // lines name the original's sender, send time and chain, not the function's own continuation message.
    const hop = captureOutput();
    await acknowledge(first.event, await world.eventHandler(env, { clock: virtualClock() })(first.event, 1_900));
    hop.stop();
    expect(hop.audit()[0]).toMatchObject({
      senderId: original.attributes.SenderId,
      sentAt: new Date(Number(original.attributes.SentTimestamp)).toISOString(),
      continuationOf: original.messageId,
    });
    output.stop();
    const second = await nextContinuation();
    expect(second.body).toMatchObject({
      tokenIds: [tokens[4]],
      continuationOf: original.messageId,
      continuationCount: 2,
    });
    await acknowledge(second.event, await world.eventHandler(env, { clock: virtualClock() })(second.event, 1_900));
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([false, false, false, false, false]);
    for (const t of tokens) expect(puts(t)).toHaveLength(1);
    expect(await world.sqs.depth(queueUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('no budget spent twice: a redelivery and a duplicate continuation report finished tokens already_inactive', async () => {
    const tokens = world.sandbox.seedPats(4);
    const event = await deliver({ tokenIds: tokens });
    const messageId = event.Records[0]!.messageId;
    const clock = virtualClock();
    const handler = world.eventHandler({ ...SMALL, SOURCE_QUEUE_URLS: queueUrl }, { clock });
    await handler(event, 1_900);
    const firstContinuation = await nextContinuation();

    // The same record again (its acknowledgement was lost): no Dfns call for what this request already switched off.
    const before = world.sandbox.requestCount;
    const audited = output.audit().length;
    await handler(event, 1_900);
    const redelivery = output.audit().slice(audited);
    expect(redelivery.slice(0, 2).map((l) => l.outcome)).toEqual(['already_inactive', 'already_inactive']);
    expect(redelivery[0]!.detail).toMatch(
      new RegExp(`^switched off for this request at \\S+ by delivery ${messageId}: no Dfns call$`),
    );
    const duplicate = await nextContinuation();
    expect(duplicate.body.tokenIds).toEqual(firstContinuation.body.tokenIds);
    expect(world.sandbox.requestCount).toBe(before); // the budget is still spent: the other two are continued again

    // Both continuations of the same request in one container, a window later: the second spends nothing.
    await clock.sleep(1_000, new AbortController().signal);
    await handler(firstContinuation.event, 1_900);
    const spent = world.sandbox.requestCount;
    const at = output.audit().length;
    await handler(duplicate.event, 1_900);
    expect(
      output
        .audit()
        .slice(at)
        .map((l) => l.outcome),
    ).toEqual(['already_inactive', 'already_inactive']);
    expect(world.sandbox.requestCount).toBe(spent);

    // A new request always sends the flow: a token switched back on after a false positive can be revoked again.
    world.sandbox.setActive(tokens[0]!, true);
    const again = await deliver({ tokenIds: [tokens[0]] });
    await clock.sleep(1_000, new AbortController().signal);
    await handler(again, 1_900);
    expect(world.sandbox.isActive(tokens[0]!)).toBe(false);
  });

  it('a token that failed transiently travels with the late ones, and ends off', async () => {
    const tokens = world.sandbox.seedPats(4);
    world.sandbox.injectFault({
      route: 'deactivate',
      tokenId: tokens[0]!,
      respond: dfnsError(500, 'Internal Server Error'),
    });
    const event = await deliver({ tokenIds: tokens });
    const clock = virtualClock();
    const handler = world.eventHandler({ ...SMALL, SOURCE_QUEUE_URLS: queueUrl }, { clock, random: () => 0.5 });
    expect(await handler(event, 1_900)).toEqual({ batchItemFailures: [] });
    expect(outcomes()).toEqual([
      [tokens[0], 'continued'],
      [tokens[1], 'deactivated'],
      [tokens[2], 'continued'],
      [tokens[3], 'continued'],
    ]);
    expect(output.audit()[0]!.detail).toMatch(/^continued in message \S+, delayed 1 s: .*HTTP 500/);
    const { event: next, body } = await nextContinuation();
    expect(body.tokenIds).toEqual([tokens[0], tokens[2], tokens[3]]);
    let chain = next;
    for (let hop = 0; hop < 3 && tokens.some((t) => world.sandbox.isActive(t)); hop++) {
      await clock.sleep(1_000, new AbortController().signal); // the continuation's delay: a window later
      await handler(chain, 1_900);
      if (tokens.some((t) => world.sandbox.isActive(t))) chain = (await nextContinuation()).event;
    }
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([false, false, false, false]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });
  it('a token named by a leaked access token travels as its ID and fingerprint, never as the token', async () => {
    const tokens = world.sandbox.seedPats(2);
    const leaked = world.sandbox.addPat();
    const fingerprint = `jwt sha256:${createHash('sha256').update(leaked.accessToken).digest('hex')}`;
    const event = await deliver({ tokenIds: [...tokens, leaked.accessToken], incidentId: 'INC-J' });
    const env = { ...SMALL, SOURCE_QUEUE_URLS: queueUrl };
    expect(await world.eventHandler(env, { clock: virtualClock() })(event, 1_900)).toEqual({ batchItemFailures: [] });
    expect(outcomes()).toEqual([
      [tokens[0], 'deactivated'],
      [tokens[1], 'deactivated'],
      [leaked.tokenId, 'continued'],
    ]);
    const { event: next, body } = await nextContinuation();
    expect(body).toMatchObject({ tokenIds: [leaked.tokenId], receivedAs: { [leaked.tokenId]: fingerprint } });
    expect(next.Records[0]!.body).not.toContain(leaked.accessToken.split('.')[1]);
    await world.eventHandler(env, { clock: virtualClock() })(next, 1_900);
    expect(output.audit().at(-1)).toMatchObject({
      tokenId: leaked.tokenId,
      receivedAs: fingerprint,
      outcome: 'deactivated',
    });
    expect(world.sandbox.isActive(leaked.tokenId)).toBe(false);
  });
});

describe("a 429's pause past the deadline: late, not failed", () => {
  it("a flow in progress held by another token's pause gives up at once and travels in the continuation", async () => {
    const [a, b] = world.sandbox.seedPats(2) as [string, string];
    world.sandbox.injectFault({
      route: 'init',
      tokenId: a,
      respond: dfnsError(429, 'Slow down', { 'retry-after': '30' }),
    });
    world.sandbox.injectFault({ route: 'init', tokenId: b, delayMs: 150 }); // b's next request meets a's pause
    const event = await deliver({ tokenIds: [a, b] });
    const started = performance.now();
    const handler = world.eventHandler({ ...SMALL, SOURCE_QUEUE_URLS: queueUrl, DFNS_BUDGET_WINDOW_SECONDS: '60' });
    const response = await handler(event, 20_000);
    expect(performance.now() - started).toBeLessThan(5_000); // not held until the deadline
    expect(response).toEqual({ batchItemFailures: [] });
    expect(outcomes()).toEqual([
      [a, 'continued'],
      [b, 'continued'],
    ]);
    expect(output.audit()[1]!.detail).toMatch(/held by the organisation's pause after a 429/);
    expect(world.sandbox.requestsTo('action')).toHaveLength(0); // b sent nothing during the pause
    expect(await world.sqs.depth(queueUrl)).toMatchObject({ delayed: 1 });
    expect(world.sandbox.isActive(a)).toBe(true);
  });
});

describe('acknowledged only once the continuation is sent', () => {
  it('a continuation SQS refuses: the record is retried whole, no token is reported continued, an ERROR says why', async () => {
    const tokens = world.sandbox.seedPats(3);
    const event = await deliver({ tokenIds: tokens });
    const sqs = refusingSendsTo(queueUrl);
    const handler = world.eventHandler({ ...SMALL, SOURCE_QUEUE_URLS: queueUrl }, { clock: virtualClock(), sqs });
    const response = await handler(event, 1_900);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] });
    expect(outcomes().map(([, o]) => o)).toEqual(['deactivated', 'deactivated', 'failed']);
    expect(output.json().find((l) => l.level === 'ERROR')).toMatchObject({
      message: 'continuation send failed: the record is retried',
      error: expect.stringMatching(/AccessDenied \(simulated\)/),
    });
    expect(metric('Continuations')).toEqual([]);
    sqs.destroy();
  });
});

describe("continuation fields are believed only from the function's own role", () => {
  it('a continuationOf from another sender cannot suppress a revocation, nor a forged count end a chain', async () => {
    const [token] = world.sandbox.seedPats(1) as [string];
    const handler = world.handler({ ...SMALL, FUNCTION_ROLE_ID: 'AROAOWNROLE1234567890' }, { clock: virtualClock() });
    await handler([{ messageId: 'original', body: { tokenIds: [token] } }], 1_900);
    world.sandbox.setActive(token, true); // switched back on after a false positive
    // An ordinary sender (the event's SenderId is a playbook's role) copies the chain identity of 'original'.
    const forged = { tokenIds: [token], continuationOf: 'original', continuationCount: 500 };
    await handler([{ messageId: 'copy', body: forged }], 1_900);
    expect(world.sandbox.isActive(token)).toBe(false);
    expect(output.audit().map((l) => l.outcome)).toEqual(['deactivated', 'deactivated']);
    expect(output.json().find((l) => l.message === 'request fields ignored or cut')?.warnings).toEqual([
      "continuation fields ignored: the record was not sent by the function's own role",
    ]);
  });

  it('a continuation whose send fails on its last receive is dead-lettered with the reasons, not left bare', async () => {
    const tokens = world.sandbox.seedPats(3);
    const sqs = refusingSendsTo(queueUrl);
    const event = await deliver({ tokenIds: tokens });
    const env = { ...SMALL, SOURCE_QUEUE_URLS: queueUrl, MAX_RECEIVE_COUNT: '1' };
    const response = await world.eventHandler(env, { clock: virtualClock(), sqs })(event, 1_900);
    expect(response).toEqual({ batchItemFailures: [] });
    const dead = await world.sqs.drainDeadLetters();
    expect(dead[0]!.body).toMatchObject({
      tokenIds: [tokens[2]],
      failures: [{ tokenId: tokens[2], outcome: 'failed' }],
    });
    sqs.destroy();
  });
});

describe('bounded chains', () => {
  it.each([
    ['500 continuations', { continuationCount: 500, firstRequestedAt: new Date().toISOString() }, /500 continuations/],
    [
      '24 hours',
      { continuationCount: 3, firstRequestedAt: new Date(Date.now() - 25 * 3_600_000).toISOString() },
      /over 24 hours ago/,
    ],
  ])('past %s the remaining tokens are dead-lettered failed, redrivable as a fresh chain', async (_n, chain, why) => {
    const tokens = world.sandbox.seedPats(3);
    const continuation = { tokenIds: tokens, incidentId: 'INC-B', continuationOf: 'original-1', ...chain };
    const event = await deliver(continuation, world.sqs.clientAs(FUNCTION_SENDER_ID)); // the function's own
    const handler = world.eventHandler({ ...SMALL, SOURCE_QUEUE_URLS: queueUrl }, { clock: virtualClock() });
    expect(await handler(event, 1_900)).toEqual({ batchItemFailures: [] });
    expect(outcomes().map(([, o]) => o)).toEqual(['deactivated', 'deactivated', 'failed']);
    expect(output.audit()[2]!.detail).toMatch(why);
    expect(await world.sqs.depth(queueUrl)).toMatchObject({ delayed: 0 }); // no continuation
    const dead = await world.sqs.drainDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.body).toEqual({
      tokenIds: [tokens[2]],
      incidentId: 'INC-B',
      continuationOf: 'original-1',
      failures: [{ tokenId: tokens[2], outcome: 'failed', detail: expect.stringMatching(why) }],
      sourceMessageId: event.Records[0]!.messageId,
      senderId: FUNCTION_SENDER_ID, // who sent it and when, on every dead letter
      sentAt: new Date(Number(event.Records[0]!.attributes.SentTimestamp)).toISOString(),
    });
  });
});

describe('when nothing is continued', () => {
  it('without SOURCE_QUEUE_URLS: the late tokens end failed and the record is retried', async () => {
    const tokens = world.sandbox.seedPats(3);
    const event = await deliver({ tokenIds: tokens });
    const response = await world.eventHandler(SMALL, { clock: virtualClock() })(event, 1_900);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] });
    expect(outcomes().map(([, o]) => o)).toEqual(['deactivated', 'deactivated', 'failed']);
    expect(await world.sqs.depth(queueUrl)).toMatchObject({ delayed: 0 });
  });

  it('a record from a queue not in SOURCE_QUEUE_URLS is retried, never continued elsewhere', async () => {
    const tokens = world.sandbox.seedPats(3);
    const event = await deliver({ tokenIds: tokens });
    const other = queueUrl.replace(/pat-revoker-requests-\d+$/, 'another-queue');
    const response = await world.eventHandler({ ...SMALL, SOURCE_QUEUE_URLS: other }, { clock: virtualClock() })(
      event,
      1_900,
    );
    expect(response.batchItemFailures).toHaveLength(1);
    expect(await world.sqs.depth(queueUrl)).toMatchObject({ delayed: 0 });
  });

  it('an invocation that started nothing and waited for nothing sends no continuation: its record is retried', async () => {
    const tokens = world.sandbox.seedPats(2);
    const event = await deliver({ tokenIds: tokens });
    const handler = world.eventHandler({ SOURCE_QUEUE_URLS: queueUrl }, { clock: virtualClock() });
    const response = await handler(event, 1_000); // all of it is the margin
    expect(response.batchItemFailures).toHaveLength(1);
    // Not even proven to come from its queue: no outcome for a delivery the function cannot vouch for, and a warning.
    expect(outcomes()).toEqual([]);
    expect(output.json()).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: 'source proof could not run: the record is retried',
        detail: 'not started: the invocation deadline is near',
      }),
    );
    expect(world.sandbox.requestCount).toBe(0);
    expect(await world.sqs.depth(queueUrl)).toMatchObject({ delayed: 0 });
  });
});

describe('small incidents are never slowed', () => {
  it('10 tokens on a quiet deployment: all at once, BudgetWaitMs 0', async () => {
    const tokens = world.sandbox.seedPats(10);
    const event = await deliver({ tokenIds: tokens });
    await world.eventHandler({ SOURCE_QUEUE_URLS: queueUrl })(event);
    expect(outcomes().map(([, o]) => o)).toEqual(Array(10).fill('deactivated'));
    expect(metric('BudgetWaitMs')).toEqual([0]);
  });
});

describe('against the organisation limit (real one-second windows)', () => {
  /** The most requests of `route` (all routes when undefined) the sandbox received in any window of `ms`. */
  const busiestWindow = (ms: number, route?: string) => {
    const times = world.sandbox.requests.filter((r) => route === undefined || r.route === route).map((r) => r.at);
    let most = 0;
    for (const start of times) most = Math.max(most, times.filter((t) => t >= start && t < start + ms).length);
    return most;
  };

  it('three containers at once hold the deployment to its budget: no 429 while it is under the limit', async () => {
    world.sandbox.limitRate({ limit: 24, windowMs: 1_000 });
    // 1080 per minute over 3 containers in one-second windows: 6 requests (2 tokens) per container per window.
    const env = {
      DFNS_REQUESTS_PER_MINUTE: '1080',
      EVENT_SOURCE_MAX_CONCURRENCY: '3',
      DFNS_BUDGET_WINDOW_SECONDS: '1',
    };
    const batches = await Promise.all([0, 1, 2].map(() => deliver({ tokenIds: world.sandbox.seedPats(5) })));
    world.sandbox.resetRecording();
    const responses = await Promise.all(batches.map((event) => world.eventHandler(env)(event, 20_000)));
    expect(responses.every((r) => r.batchItemFailures.length === 0)).toBe(true);
    expect(output.audit().every((l) => l.outcome === 'deactivated')).toBe(true);
    expect(world.sandbox.rateLimit!.refused).toBe(0);
    // Two tokens per container per window, three containers; a flow's own requests may straddle a window's edge.
    expect(busiestWindow(1_000, 'init')).toBeLessThanOrEqual(6 + 3);
  });

  it('a container replaced mid-window spends a second share in that window: the worst case is one share per container started', async () => {
    // Two tokens per window per container; the first container is replaced (a cold start) right after its grants.
    const env = { ...SMALL, EVENT_SOURCE_MAX_CONCURRENCY: '1' };
    const first = await deliver({ tokenIds: world.sandbox.seedPats(4) });
    const second = await deliver({ tokenIds: world.sandbox.seedPats(4) });
    world.sandbox.resetRecording();
    await world.eventHandler(env)(first, 1_900);
    await world.eventHandler(env)(second, 1_900);
    // Each container held its own share (two tokens before its deadline), so the window saw two shares.
    expect(busiestWindow(1_000, 'init')).toBe(4);
    expect(output.audit().filter((l) => l.outcome === 'deactivated')).toHaveLength(4);
  });

  it.each([
    ['with Retry-After', 'seconds'],
    ['without Retry-After', 'none'],
  ] as const)('a budget above the limit: 429s %s pause every flow, then it recovers and finishes', async (_n, form) => {
    world.sandbox.limitRate({ limit: 9, windowMs: 1_000, retryAfter: form });
    const tokens = world.sandbox.seedPats(8);
    const event = await deliver({ tokenIds: tokens });
    const env = { DFNS_REQUESTS_PER_MINUTE: '6000', DFNS_BUDGET_WINDOW_SECONDS: '1', DFNS_MAX_ATTEMPTS: '1' };
    const response = await world.eventHandler(env)(event, 20_000);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(output.audit().map((l) => l.outcome)).toEqual(Array(8).fill('deactivated')); // no attempt spent on a 429
    const throttles = metric('DfnsThrottles').reduce((a, b) => a + b, 0);
    expect(throttles).toBeGreaterThan(0);
    expect(throttles).toBe(world.sandbox.rateLimit!.refused);
    // Paused, then at most half of the share: far fewer refusals than requests sent.
    expect(world.sandbox.rateLimit!.refused).toBeLessThan(world.sandbox.rateLimit!.admitted);
    await sleep(0);
  });
});
