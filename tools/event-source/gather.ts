/**
 * Gathers one batch from one queue as Lambda's SQS poller does
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, "Batching behavior" in
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html): long polling, then records
 * until the batch size is reached or the batching window has passed. With no window (the SQS default, 0) the function
 * is invoked "as soon as records are available" with what the queue holds then; the 6 MB payload limit is not
 * modelled (batches here are ≤ 10 000 records of ≤ 1 MiB, checked by nobody).
 *
 * The first receive asks for one message only. SQS answers a long poll as soon as any message is there
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html);
 * local-aws-sqs 2.0.2 waits for MaxNumberOfMessages or the whole WaitTimeSeconds, which would hold a batch of 3 for
 * 20 s. One message, then at once a receive for the rest, behaves the same on both.
 *
 * The window starts with the batch's first record: the docs call it the time "Lambda spends gathering records", and
 * an empty queue gathers nothing. Messages stay in flight (their visibility timeout running) while the window is open,
 * as on Lambda, which is why its docs want the visibility timeout to cover the window too.
 */
import { type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How batches are gathered. */
export interface GatherSettings {
  /** Records per invocation, at most (1–10 000; above 10 needs a window, as on Lambda). */
  batchSize: number;
  /** The batching window, ms (0–300 000): how long to gather records after the first one. */
  batchingWindowMs: number;
  /** ReceiveMessage WaitTimeSeconds of the long poll that waits for a first record (1–20). */
  receiveWaitSeconds: number;
}

/** Between two empty short polls inside a window shorter than a second, ms. */
const SHORT_POLL_PAUSE_MS = 50;
/** SQS's limit on MaxNumberOfMessages. */
const RECEIVE_MAX = 10;

/**
 * Receives one batch: waits up to `receiveWaitSeconds` for a first message, then gathers more per the settings.
 *
 * @param stop ends the gathering early (disable): what was received is still returned, a receive under way finishes
 * @param abort cancels a receive under way (close); its messages come back after their visibility timeout
 * @param onReceive told of every non-empty receive, before the batch is complete
 * @returns the messages, in the order received; empty when none came
 * @throws the SQS client's error on a failed receive (messages received before it come back after their visibility
 *   timeout), or the abort reason
 */
export async function gatherBatch(
  client: SQSClient,
  queueUrl: string,
  settings: GatherSettings,
  signals: { stop: AbortSignal; abort: AbortSignal },
  onReceive: (messages: Message[]) => void,
): Promise<Message[]> {
  const receive = async (max: number, waitSeconds: number) => {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        // All system attributes (ApproximateReceiveCount, SentTimestamp, SenderId, …) and message attributes, as
        // the records of Lambda's event carry them. AttributeNames is the older name; local-aws-sqs reads only it.
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: signals.abort },
    );
    if (Messages.length > 0) onReceive(Messages);
    return Messages;
  };

  const batch = await receive(1, settings.receiveWaitSeconds);
  if (batch.length === 0) return batch;
  const windowEnd = performance.now() + settings.batchingWindowMs;
  while (batch.length < settings.batchSize && !signals.stop.aborted) {
    const left = windowEnd - performance.now();
    // Never wait past the window: a long poll only in whole seconds that fit in what is left of it.
    const waitSeconds = Math.max(0, Math.min(20, Math.floor(left / 1000)));
    const more = await receive(Math.min(RECEIVE_MAX, settings.batchSize - batch.length), waitSeconds);
    batch.push(...more);
    if (settings.batchingWindowMs === 0 || performance.now() >= windowEnd) break;
    if (more.length === 0 && waitSeconds === 0) {
      await sleep(Math.min(SHORT_POLL_PAUSE_MS, Math.max(0, windowEnd - performance.now())), undefined, {
        signal: signals.stop,
      }).catch(() => undefined);
    }
  }
  return batch;
}
