/**
 * The source proof (CONTRACT section 2, `SOURCE_QUEUE_URLS`) through the real handler and a loopback SQS: a record
 * acts only when SQS takes its receipt handle on the queue its `eventSourceARN` names. A direct invoke with a forged
 * event gets no Dfns call, no outcome and no dead letter, only an ERROR line and `ForgedRecords`.
 */
import { DeleteMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { beforeEach, describe, expect, it } from '@jest/globals';
import type { Captured } from '../support/stdout.js';
import { useWorld, type World } from '../support/world.js';

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

let queueUrl: string;
let otherUrl: string;
let queues = 0;
beforeEach(async () => {
  queues += 1;
  queueUrl = await world.sqs.createQueue(`pat-revoker-proof-${queues}`);
  otherUrl = await world.sqs.createQueue(`someone-elses-queue-${queues}`);
});

/** Sends a request to `url` and receives it back as Lambda would deliver it. */
async function deliver(url: string, body: unknown): Promise<SQSEvent> {
  await world.sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(body) }));
  return world.sqs.receiveEvent(url);
}

const invoke = (event: SQSEvent) => world.eventHandler({ SOURCE_QUEUE_URLS: queueUrl })(event, 30_000);
const forgedRecords = () =>
  output.metrics().flatMap((m) => (m.ForgedRecords === undefined ? [] : [m.ForgedRecords].flat()));

/** What a forged or stale record must leave: nothing at Dfns, no outcome, no dead letter, SQS asked to retry it. */
async function expectUntouched(event: SQSEvent, response: { batchItemFailures: unknown[] }, tokenId: string) {
  expect(response.batchItemFailures).toEqual(event.Records.map((r) => ({ itemIdentifier: r.messageId })));
  expect(world.sandbox.requestCount).toBe(0);
  expect(world.sandbox.isActive(tokenId)).toBe(true);
  expect(output.audit()).toEqual([]);
  expect(await world.sqs.drainDeadLetters()).toEqual([]);
  for (const { receiptHandle } of event.Records) {
    if (typeof receiptHandle === 'string') expect(output.text()).not.toContain(receiptHandle);
  }
}

describe('records the function may act on', () => {
  it('a record received from its queue is proven and acted on', async () => {
    const { tokenId } = world.sandbox.addPat();
    const event = await deliver(queueUrl, { tokenId });
    expect(await invoke(event)).toEqual({ batchItemFailures: [] });
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    expect(forgedRecords()).toEqual([]);
  });
});

describe('a direct invoke with a forged event is refused', () => {
  it.each([
    ['a real receipt handle of another queue', async () => (await deliver(otherUrl, {})).Records[0]!.receiptHandle],
    ['a random string', async () => 'AQEB'.padEnd(300, 'x')],
    ['no receipt handle at all', async () => undefined],
  ])('%s, under its eventSourceARN', async (_, handleOf) => {
    const { tokenId } = world.sandbox.addPat();
    const event = await deliver(queueUrl, { tokenId });
    await world.sqs.client.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: event.Records[0]!.receiptHandle }),
    );
    const record = { ...event.Records[0]!, receiptHandle: (await handleOf()) as string };
    const forged = { Records: [record] };
    const response = await invoke(forged);
    await expectUntouched(forged, response, tokenId);
    expect(forgedRecords()).toEqual([1]);
    expect(output.json().find((l) => l.level === 'ERROR')).toMatchObject({
      message: expect.stringMatching(/^record refused: not proven to come from a queue of SOURCE_QUEUE_URLS/),
      messageId: record.messageId,
    });
  });

  it("a real record of another queue, whatever it claims, is refused: its queue is not the function's", async () => {
    const { tokenId } = world.sandbox.addPat();
    const event = await deliver(otherUrl, { tokenId });
    const response = await invoke(event);
    await expectUntouched(event, response, tokenId);
    expect(forgedRecords()).toEqual([1]);
  });

  it('one forged record does not hold back the real ones beside it', async () => {
    const [real, target] = [world.sandbox.addPat().tokenId, world.sandbox.addPat().tokenId];
    const event = await deliver(queueUrl, { tokenId: real });
    const forged = {
      ...event.Records[0]!,
      messageId: 'forged-1',
      body: JSON.stringify({ tokenId: target }),
      receiptHandle: 'AQEBforged',
    };
    const response = await invoke({ Records: [event.Records[0]!, forged] });
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'forged-1' }] });
    expect([world.sandbox.isActive(real), world.sandbox.isActive(target)]).toEqual([false, true]);
    expect(output.audit().map((l) => [l.tokenId, l.outcome])).toEqual([[real, 'deactivated']]);
  });
});

describe('a handle replayed after its message was deleted', () => {
  it('makes no Dfns call, reports no outcome and dead-letters nothing', async () => {
    const { tokenId } = world.sandbox.addPat();
    const event = await deliver(queueUrl, { tokenId });
    await world.sqs.client.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: event.Records[0]!.receiptHandle }),
    );
    // AWS answers this handle "does not exist or is not available" (stale, skipped quietly); the loopback SQS
    // answers otherwise, so only what both must lead to is asserted.
    const response = await invoke(event);
    await expectUntouched(event, response, tokenId);
  });
});
