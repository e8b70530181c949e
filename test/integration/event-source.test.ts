/**
 * The emulated SQS event source (tools/event-source/) against Lambda's documented behaviour, on the loopback SQS with
 * tiny handler fixtures (test/fixtures/event-source/handler.mjs: each record's body says what to do). Queues have a
 * DLQ with maxReceiveCount 3 and visibility timeouts of a second or two, so redeliveries come fast.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { loopbackEnv } from '../../tools/aws/loopback-env.js';
import { startSecretsManager } from '../../tools/aws/secrets-manager.js';
import { startRehearsal } from '../../tools/sandbox/rehearsal.js';
import type { EventSourceMapping } from '../../tools/event-source/event-source-mapping.js';
import {
  EMPTY,
  fixture,
  ids,
  of,
  onCleanup,
  probeServer,
  queue,
  realBundle,
  run,
  send,
  until,
  useLoopbackSqs,
} from '../fixtures/event-source/harness.js';

const loopback = useLoopbackSqs();

describe('batches', () => {
  it('holds up to batchSize records; with no window, what the queue holds now, each record as Lambda builds it', async () => {
    const { url } = await queue(5);
    const { mapping, seen } = await run({ queueUrls: [url], batchSize: 3, enabled: false });
    const sent: string[] = [];
    for (let n = 0; n < 6; n += 1) sent.push(await send(url, { n }, { origin: 'test' }));
    // A large line in the function's log: the whole body is in the fixture's log line.
    sent.push(await send(url, { padding: 'x'.repeat(200_000) }));
    mapping.enable();

    await until('every record deleted', () => mapping.stats().deletedMessages === 7);
    const invocations = mapping.invocations();
    expect(invocations.map((i) => i.records.length)).toEqual([3, 3, 1]);
    expect(invocations.flatMap(ids)).toEqual(sent);
    expect(invocations.map((i) => i.end?.outcome)).toEqual(['ok', 'ok', 'ok']);
    const records = (await until('three log lines', () => seen().length === 3 && seen())).flatMap((s) => s.records);
    for (const record of records) {
      expect(record).toMatchObject({ eventSourceARN: mapping.queues[0]!.arn, receiveCount: 1 });
    }
    expect(records[0]!.messageAttributes.origin).toMatchObject({ dataType: 'String', stringValue: 'test' });
    expect(JSON.parse(records[6]!.body).padding).toHaveLength(200_000);
    expect(mapping.queues[0]!.arn).toMatch(/^arn:aws:sqs:eu-west-1:123456789012:event-source-\d+$/);
    expect(await loopback().depth(url)).toEqual(EMPTY);
  });

  it('a batching window gathers records that arrive while it is open; a full batch does not wait for it', async () => {
    const { url } = await queue(10);
    const received: string[] = [];
    const windowed = await run({
      queueUrls: [url],
      batchingWindowMs: 1500,
      observer: { onReceive: (r) => received.push(...r.messageIds) },
    });
    const first = await send(url, {});
    await until('the first record received', () => received.includes(first));
    const later = [await send(url, {}), await send(url, {})];
    const [batch] = await until('an invocation', () => windowed.mapping.invocations().filter((i) => i.end));
    expect(ids(batch!)).toEqual([first, ...later]);

    // A one-minute window: were it waited out, `until` would give up first.
    const { url: fullUrl } = await queue(60);
    const full = await run({
      queueUrls: [fullUrl],
      batchSize: 2,
      batchingWindowMs: 60_000,
      observer: { onReceive: (r) => received.push(...r.messageIds) },
    });
    const one = await send(fullUrl, {});
    await until('the first record received', () => received.includes(one));
    const two = await send(fullUrl, {});
    const [pair] = await until('an invocation', () => full.mapping.invocations().filter((i) => i.end));
    expect(ids(pair!)).toEqual([one, two]);
  });
});

describe('partial batch responses and redrive', () => {
  it('deletes exactly the acknowledged records; a failed one comes back after its visibility timeout', async () => {
    const { url, dlqUrl } = await queue(2);
    const { mapping } = await run({ queueUrls: [url], enabled: false });
    const [a, b, c] = [await send(url, {}), await send(url, { failUntil: 1 }), await send(url, {})];
    mapping.enable();

    const [first] = await until('the first invocation', () => mapping.invocations().filter((i) => i.end));
    expect(first!.records).toEqual([a, b, c].map((messageId) => ({ messageId, receiveCount: 1 })));
    expect(first!.end).toMatchObject({ outcome: 'partial', retried: [b], deleteFailures: [] });
    expect(first!.end!.deleted.sort()).toEqual([a!, c!].sort());
    // No visibility change: the failed record waits out its visibility timeout in flight.
    expect(await loopback().depth(url)).toMatchObject({ inFlight: 1 });

    const [again] = await until('b again', () => of(mapping, b!).slice(1));
    expect(again!.records).toEqual([{ messageId: b, receiveCount: 2 }]);
    expect(again!.end).toMatchObject({ outcome: 'ok', deleted: [b], retried: [] });
    expect(await loopback().depth(url)).toEqual(EMPTY);
    expect(await loopback().depth(dlqUrl)).toEqual(EMPTY);
  });

  it('a record that keeps failing reaches the DLQ after maxReceiveCount receives, moved by SQS', async () => {
    const { url, dlqUrl } = await queue(1);
    const { mapping } = await run({ queueUrls: [url] });
    const id = await send(url, { failUntil: 99, poison: true });

    await until('the record in the DLQ', async () => (await loopback().depth(dlqUrl)).visible === 1, 15_000);
    const tries = of(mapping, id);
    expect(tries.map((i) => i.records)).toEqual([1, 2, 3].map((receiveCount) => [{ messageId: id, receiveCount }]));
    expect(tries.map((i) => i.end?.outcome)).toEqual(['partial', 'partial', 'partial']);
    expect(await loopback().drain(dlqUrl)).toEqual([
      expect.objectContaining({ body: { failUntil: 99, poison: true } }),
    ]);
    expect(await loopback().depth(url)).toEqual(EMPTY);
  });
});

describe('the whole batch comes back', () => {
  /** One queue per case, each with a batch of [the case's record, a plain record]; all in one mapping. */
  async function cases(bodies: Record<string, object>, functionTimeoutMs = 1000) {
    const names = Object.keys(bodies);
    const urls = await Promise.all(names.map(async () => (await queue(1)).url));
    const { mapping } = await run({ queueUrls: urls, enabled: false, functionTimeoutMs });
    const sent = new Map<string, { url: string; ids: string[] }>();
    for (const [index, name] of names.entries()) {
      const url = urls[index]!;
      sent.set(name, { url, ids: [await send(url, bodies[name]!), await send(url, {})] });
    }
    mapping.enable();
    await until('every record deleted', () => mapping.stats().deletedMessages === 2 * names.length, 20_000);
    return { mapping, sent };
  }

  it('after a handler error, a crash or a timeout: nothing deleted, both records again with receive count 2', async () => {
    const expected = { error: 'throw', crash: 'exit', timeout: 'hang' } as const;
    const { mapping, sent } = await cases(
      Object.fromEntries(Object.entries(expected).map(([outcome, fault]) => [outcome, { fault }])),
    );
    for (const outcome of Object.keys(expected)) {
      const { url, ids: batch } = sent.get(outcome)!;
      const [failed, ...later] = mapping.invocations().filter((i) => i.queueUrl === url);
      expect(failed!.records).toEqual(batch.map((messageId) => ({ messageId, receiveCount: 1 })));
      expect(failed!.end).toMatchObject({ outcome, deleted: [], retried: batch });
      expect(later.flatMap((i) => i.records).sort((x, y) => x.messageId.localeCompare(y.messageId))).toEqual(
        [...batch].sort().map((messageId) => ({ messageId, receiveCount: 2 })),
      );
      expect(later.map((i) => i.end?.outcome)).toEqual(later.map(() => 'ok'));
    }
    const detail = (outcome: string) => mapping.invocations().find((i) => i.end?.outcome === outcome)?.end?.detail;
    expect(detail('error')).toBe('Error: fixture: asked to throw');
    expect(detail('crash')).toBe('exited with code 3');
    expect(detail('timeout')).toBe('no answer within the function timeout');
  });

  const invalid: Record<string, unknown> = {
    'an empty itemIdentifier': { batchItemFailures: [{ itemIdentifier: '' }] },
    'a null itemIdentifier': { batchItemFailures: [{ itemIdentifier: null }] },
    'a bad key name': { batchItemFailures: [{ messageId: '$self' }] },
    'a message ID not in the batch': { batchItemFailures: [{ itemIdentifier: 'no-such-message' }] },
    'an itemIdentifier that is no string': { batchItemFailures: [{ itemIdentifier: 7 }] },
    'batchItemFailures not a list': { batchItemFailures: '$self' },
    'an entry that is no object': { batchItemFailures: ['$self'] },
    'a string': '$self',
    'a list': [{ itemIdentifier: '$self' }],
  };
  it('after an invalid batch response, of each shape', async () => {
    const { mapping, sent } = await cases(
      Object.fromEntries(Object.entries(invalid).map(([name, respond]) => [name, { fault: 'respond', respond }])),
    );
    for (const name of Object.keys(invalid)) {
      const { url, ids: batch } = sent.get(name)!;
      const [failed, ...later] = mapping.invocations().filter((i) => i.queueUrl === url);
      expect({ name, end: failed!.end }).toMatchObject({
        name,
        end: { outcome: 'invalid-response', deleted: [], retried: batch },
      });
      expect(later.flatMap((i) => i.records.map((r) => r.receiveCount))).toEqual([2, 2]);
    }
  });

  const valid: Record<string, unknown> = {
    null: null,
    undefined: '$undefined',
    'an empty object': {},
    'an empty list': { batchItemFailures: [] },
    'a null list': { batchItemFailures: null },
    'other keys only': { statusCode: 200 },
  };
  it('but not after a response that means complete success, of each shape', async () => {
    const { mapping } = await cases(
      Object.fromEntries(Object.entries(valid).map(([name, respond]) => [name, { fault: 'respond', respond }])),
    );
    expect(mapping.invocations().map((i) => [i.records.length, i.end?.outcome])).toEqual(
      Object.keys(valid).map(() => [2, 'ok']),
    );
  });

  it('when Init fails', async () => {
    const { url } = await queue(1);
    const { mapping } = await run({ queueUrls: [url], handlerPath: fixture('broken-init.mjs') });
    const id = await send(url, {});
    const [failed] = await until('an invocation', () => mapping.invocations().filter((i) => i.end));
    expect(failed).toMatchObject({ cold: true, records: [{ messageId: id }], end: { outcome: 'crash', deleted: [] } });
    expect(failed!.end!.detail).toBe('Init failed: Error: fixture: Init fails');
  });
});

describe('containers', () => {
  it('a warm container keeps its module state, also after a handler error; after a crash the next one is cold', async () => {
    const { url } = await queue(1);
    const { mapping, seenBy } = await run({ queueUrls: [url], batchSize: 1 });
    const settled = async (body: object) => {
      const id = await send(url, body);
      return until(`${id} deleted`, () => mapping.invocations().some((i) => i.end?.deleted.includes(id)));
    };
    await settled({});
    await settled({});
    await settled({ fault: 'throw' }); // an error, then the record again
    await settled({ fault: 'exit' }); // a crash, then the record again
    await settled({});

    const invocations = mapping.invocations();
    expect(invocations.map((i) => [i.containerId, i.cold, i.end?.outcome])).toEqual([
      [1, true, 'ok'],
      [1, false, 'ok'],
      [1, false, 'error'],
      [1, false, 'ok'],
      [1, false, 'crash'],
      [2, true, 'ok'],
      [2, false, 'ok'],
    ]);
    const counts = await Promise.all(invocations.map(async (i) => (await seenBy(i.requestId)).invocations));
    expect(counts).toEqual([1, 2, 3, 4, 5, 1, 2]);
    expect(mapping.stats()).toMatchObject({ invocations: 7, coldStarts: 2, outcomes: { ok: 5, error: 1, crash: 1 } });
  });

  it('runs at most maxConcurrency invocations at once, in as many containers', async () => {
    const { url } = await queue(5);
    let now = 0;
    let peak = 0;
    const { mapping } = await run({
      queueUrls: [url],
      batchSize: 1,
      maxConcurrency: 2,
      functionTimeoutMs: 3000,
      enabled: false,
      observer: {
        onInvocationStart: () => {
          now += 1;
          peak = Math.max(peak, now);
        },
        onInvocationEnd: () => {
          now -= 1;
        },
      },
    });
    for (let n = 0; n < 6; n += 1) await send(url, { sleepMs: 300 });
    mapping.enable();
    await until('every record deleted', () => mapping.stats().deletedMessages === 6);
    expect(peak).toBe(2);
    expect(mapping.stats()).toMatchObject({ peakConcurrency: 2, peakContainers: 2, coldStarts: 2 });
    expect(new Set(mapping.invocations().map((i) => i.containerId))).toEqual(new Set([1, 2]));
  });

  it("a frozen container's timers stand still; an invocation thaws it", async () => {
    const { url } = await queue(5);
    const { mapping, seenBy } = await run({ queueUrls: [url], batchSize: 1, functionTimeoutMs: 4000 });
    const ticking = await send(url, { ticks: true });
    await until('the timer started', () => of(mapping, ticking).length > 0);
    const { id } = mapping.containers()[0]!;

    expect(mapping.freeze(id)).toBe(true);
    await sleep(1200); // the time the container spends frozen is what the fixture measures
    expect(mapping.thaw(id)).toBe(true);
    const next = await send(url, {});
    const [after] = await until('the next invocation', () => of(mapping, next));
    const report = await seenBy(after!.requestId);
    expect(report.maxTickGapMs).toBeGreaterThanOrEqual(1000);
    // The context counts down from the function timeout.
    expect(report.remainingMs).toBeGreaterThan(0);
    expect(report.remainingMs).toBeLessThanOrEqual(4000);

    mapping.freeze(id);
    const last = await send(url, {});
    const [thawed] = await until('an invocation of the frozen container', () => of(mapping, last));
    expect(thawed).toMatchObject({ containerId: id, cold: false, end: { outcome: 'ok' } });
    expect(mapping.containers()).toMatchObject([{ id, frozen: false, invocations: 3 }]);
  });

  it('a container frozen during an invocation times out on the event source clock, and is replaced', async () => {
    const { url } = await queue(2);
    let mapping: EventSourceMapping | undefined;
    const probe = await probeServer((messageId, response) => {
      const running = mapping!.containerRunning(messageId);
      if (running !== undefined && mapping!.invocations().length === 1) mapping!.freeze(running);
      response.end('ok');
    });
    ({ mapping } = await run({ queueUrls: [url] }));
    const id = await send(url, { probe });
    const [frozen, again] = await until('two invocations', () => of(mapping!, id).length === 2 && of(mapping!, id));
    expect(frozen).toMatchObject({ containerId: 1, end: { outcome: 'timeout', deleted: [] } });
    expect(again).toMatchObject({ containerId: 2, cold: true, records: [{ receiveCount: 2 }], end: { outcome: 'ok' } });
  });

  it('a container killed when its request reaches a server: the batch comes back, to a cold container', async () => {
    const { url } = await queue(1);
    let mapping: EventSourceMapping | undefined;
    let killed: number | undefined;
    const probe = await probeServer((messageId, response) => {
      if (killed === undefined) {
        killed = mapping!.containerRunning(messageId);
        mapping!.kill(killed!); // the request is never answered: its container is gone
        return;
      }
      response.end('ok');
    });
    ({ mapping } = await run({ queueUrls: [url], batchSize: 10, enabled: false }));
    const batch = [await send(url, { probe }), await send(url, {})];
    mapping.enable();
    await until('both deleted', () => mapping!.stats().deletedMessages === 2);
    const [crashed, ...later] = mapping.invocations();
    expect(killed).toBe(1);
    expect(crashed).toMatchObject({ containerId: 1, end: { outcome: 'crash', deleted: [], retried: batch } });
    expect(crashed!.end!.detail).toBe('killed by EventSourceMapping.kill()');
    expect(later[0]).toMatchObject({ containerId: 2, cold: true });
    expect(later.flatMap((i) => i.records.map((r) => r.receiveCount))).toEqual([2, 2]);
  });
});

describe('enabled', () => {
  it('disabled, it leaves messages in the queue until enabled; an invocation under way finishes', async () => {
    const { url } = await queue(2);
    const started: string[] = [];
    const { mapping } = await run({
      queueUrls: [url],
      functionTimeoutMs: 2000,
      observer: { onInvocationStart: (i) => started.push(...ids(i)) },
    });
    const slow = await send(url, { sleepMs: 500 });
    await until('the slow record under way', () => started.includes(slow));
    await mapping.disable();
    expect(mapping.enabled).toBe(false);
    await mapping.idle();
    expect(of(mapping, slow)[0]?.end).toMatchObject({ outcome: 'ok', deleted: [slow] });

    const waiting = [await send(url, {}), await send(url, {})];
    await sleep(1500); // longer than a long poll: an enabled poller would have taken them by now
    expect(await loopback().depth(url)).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
    expect(mapping.invocations()).toHaveLength(1);

    mapping.enable();
    await until('both deleted', () => waiting.every((id) => of(mapping, id)[0]?.end?.outcome === 'ok'));
    expect(await loopback().depth(url)).toEqual(EMPTY);
  });
});

describe('the real function', () => {
  it('runs the bundle as deployed, in plain node: a batch of requests switches its tokens off', async () => {
    const bundle = await realBundle();
    const rehearsal = await startRehearsal({ tokens: 3 });
    const secrets = await startSecretsManager();
    onCleanup(async () => {
      await Promise.all([rehearsal.sandbox.close(), secrets.close()]);
    });
    secrets.setSecret('pat-revoker/dfns-credential', JSON.stringify(rehearsal.secret));
    const { url } = await queue(30);
    const env = loopbackEnv({
      dfnsApiUrl: rehearsal.sandbox.url,
      secretsManagerUrl: secrets.url,
      deadLetterQueueUrl: loopback().deadLetterQueueUrl,
      secretId: 'pat-revoker/dfns-credential',
    });
    const { mapping, logs } = await run({
      queueUrls: [url],
      handlerPath: bundle,
      env: { ...env, SOURCE_QUEUE_URLS: url },
      functionTimeoutMs: 30_000,
      enabled: false,
    });
    const [a, b, c] = rehearsal.tokenIds as [string, string, string];
    await send(url, { tokenIds: [a, b], incidentId: 'INC-1', reason: 'leaked', requestedBy: 'test' });
    await send(url, { tokenId: c, incidentId: 'INC-2', requestedBy: 'test' });
    mapping.enable();

    await until('both records deleted', () => mapping.stats().deletedMessages === 2, 20_000);
    expect(mapping.invocations()).toMatchObject([{ cold: true, records: [{}, {}], end: { outcome: 'ok' } }]);
    expect([a, b, c].map((id) => rehearsal.sandbox.isActive(id))).toEqual([false, false, false]);
    const audit = logs.filter((l) => l.line.includes('"message":"revocation"')).map((l) => JSON.parse(l.line));
    expect(audit.map((line) => [line.tokenId, line.outcome]).sort()).toEqual(
      [a, b, c].sort().map((id) => [id, 'deactivated']),
    );
  });
});
