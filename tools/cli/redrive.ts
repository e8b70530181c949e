/**
 * `pat-revoker redrive`: moves dead-lettered requests back to the request queue with an SQS message move task, from
 * the DLQ the queue's own redrive policy names. It previews a sample first, then follows the task until it completes
 * or fails.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type ListMessageMoveTasksResultEntry,
  ReceiveMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../command-line.js';
import { describeQueue, parseQueueRef, type Queue, queueUrlOf } from './target.js';

/** Outcomes whose dead letters come straight back when redriven: the cause is in the request, not in a service. */
export const COME_BACK = new Set(['invalid', 'protected', 'not_found']);

/** How often a running move task is looked at, ms. */
export const POLL_MS = 1000;

/** The DLQ messages looked at in a preview, at most (SQS receives 10 at a time). */
export const MAX_SAMPLE = 100;

/**
 * The DLQ to move from: the one the queue's redrive policy names. A `--dlq-url` (URL or ARN) naming another queue
 * is refused unless `allowOther`: another system's dead letters do not belong in the revocation queue.
 *
 * @throws UsageError when the queue has no redrive policy, or `--dlq-url` names another queue without `allowOther`
 */
export async function deadLetterQueue(
  sqs: SQSClient,
  queue: Queue,
  policyDlqArn: string | undefined,
  given: string | undefined,
  allowOther: boolean,
  signal: AbortSignal,
): Promise<Queue> {
  const givenRef = given === undefined ? undefined : parseQueueRef(given, '--dlq-url');
  if (!policyDlqArn && !givenRef) {
    throw new UsageError(
      `${queue.name} has no redrive policy, so it names no DLQ: give --dlq-url and --allow-other-dlq`,
    );
  }
  if (givenRef) {
    const policy = policyDlqArn ? parseQueueRef(policyDlqArn, "the queue's redrive policy") : undefined;
    const same = givenRef.name === policy?.name && givenRef.account === policy?.account;
    if (!same && !allowOther) {
      // Built from the checked --dlq-url and SQS' own ARN: printed as it is, so the operator can read both.
      throw new UsageError(
        `--dlq-url names ${givenRef.arn ?? givenRef.url}, but ${queue.name}'s redrive policy names ` +
          `${policyDlqArn ?? 'no DLQ'}: moving another queue's messages into the revocation queue is refused ` +
          '(give --allow-other-dlq if you mean it)',
        true,
      );
    }
    return (await describeQueue(sqs, await queueUrlOf(sqs, givenRef, signal), signal)).queue;
  }
  const ref = parseQueueRef(policyDlqArn as string, "the queue's redrive policy");
  return { url: await queueUrlOf(sqs, ref, signal), arn: policyDlqArn as string, name: ref.name };
}

/** What a preview found. */
export interface Preview {
  /** The DLQ's approximate counts. */
  visible: number;
  inFlight: number;
  /** Messages looked at, and how many of them name each outcome. */
  sampled: number;
  outcomes: Record<string, number>;
  /** How many sampled messages hold an outcome of {@link COME_BACK}. */
  comeBack: number;
}

/**
 * Looks at up to `sample` DLQ messages and makes each visible again at once, and counts them per outcome (the
 * `failures` of a message the function wrote; `transient` for one the redrive policy moved, which has none).
 */
export async function preview(sqs: SQSClient, dlq: Queue, sample: number, signal: AbortSignal): Promise<Preview> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: dlq.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
    { abortSignal: signal },
  );
  const result: Preview = {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    sampled: 0,
    outcomes: {},
    comeBack: 0,
  };
  const seen = new Set<string>();
  while (result.sampled < Math.min(sample, result.visible)) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlq.url,
        MaxNumberOfMessages: Math.min(10, sample - result.sampled),
        MessageAttributeNames: ['outcome'],
        // Long enough to read them, not so long that a failure to release them holds the redrive up for long.
        VisibilityTimeout: 30,
        WaitTimeSeconds: 0,
      }),
      { abortSignal: signal },
    );
    const fresh = Messages.filter((m) => m.MessageId && !seen.has(m.MessageId));
    if (Messages.length > 0) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: dlq.url,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
        }),
        { abortSignal: signal },
      );
    }
    if (fresh.length === 0) break;
    for (const message of fresh) {
      seen.add(message.MessageId as string);
      const outcomes = outcomesOf(message.Body);
      for (const outcome of outcomes) result.outcomes[outcome] = (result.outcomes[outcome] ?? 0) + 1;
      if (outcomes.some((o) => COME_BACK.has(o))) result.comeBack += 1;
      result.sampled += 1;
    }
  }
  return result;
}

/** The outcomes a DLQ message's body names (CONTRACT section 6), or `transient` when it names none. */
function outcomesOf(body: string | undefined): string[] {
  try {
    const failures = (JSON.parse(body ?? '') as { failures?: Array<{ outcome?: unknown }> }).failures;
    const outcomes = new Set((failures ?? []).map((f) => String(f.outcome)));
    if (outcomes.size > 0) return [...outcomes];
  } catch {
    // not JSON: the redrive policy moved a body as it was sent
  }
  return ['transient'];
}

/**
 * A running move task from `source`, if there is one, and the start times of the tasks listed before ours starts
 * (none of them can be ours: {@link followTask} never takes one of them for it).
 */
export async function runningTask(
  sqs: SQSClient,
  source: Queue,
  signal: AbortSignal,
): Promise<{ running?: ListMessageMoveTasksResultEntry; earlier: Set<number> }> {
  const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: source.arn, MaxResults: 10 }), {
    abortSignal: signal,
  });
  const running = Results.find((task) => task.Status === 'RUNNING' || task.Status === 'CANCELLING');
  return { ...(running ? { running } : {}), earlier: new Set(Results.map((task) => task.StartedTimestamp ?? 0)) };
}

/**
 * Starts the move task.
 *
 * @returns its handle and the time it was asked for (ms since the epoch), by which it is found once finished
 */
export async function startTask(
  sqs: SQSClient,
  source: Queue,
  destination: Queue,
  rate: number | undefined,
  signal: AbortSignal,
): Promise<{ handle: string; askedAt: number }> {
  const askedAt = Date.now();
  const { TaskHandle } = await sqs.send(
    new StartMessageMoveTaskCommand({
      SourceArn: source.arn,
      DestinationArn: destination.arn,
      ...(rate ? { MaxNumberOfMessagesPerSecond: rate } : {}),
    }),
    { abortSignal: signal },
  );
  if (!TaskHandle) throw new Error('StartMessageMoveTask gave no task handle');
  return { handle: TaskHandle, askedAt };
}

/** How far apart this machine's clock and SQS' may be when a finished task is found by its start time, ms. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Follows the task until it is no longer running: by its handle while it runs, then (SQS lists handles only for
 * running tasks) as the newest task from `source` started after it was asked for.
 *
 * @param started the task's handle, when it was asked for, and the start times of the tasks listed before it (never
 *   taken for it, even when ours is not listed yet and one of them finished a moment ago)
 * @param onProgress called after each look, with the task as SQS lists it
 * @returns the finished task, or undefined when `signal` aborted first (the task goes on)
 */
export async function followTask(
  sqs: SQSClient,
  source: Queue,
  started: { handle: string; askedAt: number; earlier?: ReadonlySet<number> },
  signal: AbortSignal,
  onProgress: (task: ListMessageMoveTasksResultEntry) => void,
): Promise<ListMessageMoveTasksResultEntry | undefined> {
  for (;;) {
    if (signal.aborted) return undefined;
    const { Results = [] } = await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: source.arn, MaxResults: 10 }),
      {
        abortSignal: signal,
      },
    );
    const running = Results.find((task) => task.TaskHandle === started.handle);
    const task =
      running ??
      Results.filter(
        (t) =>
          t.Status !== 'RUNNING' &&
          (t.StartedTimestamp ?? 0) >= started.askedAt - CLOCK_SKEW_MS &&
          !started.earlier?.has(t.StartedTimestamp ?? 0),
      ).sort((a, b) => (b.StartedTimestamp ?? 0) - (a.StartedTimestamp ?? 0))[0];
    if (task) {
      onProgress(task);
      if (task.Status !== 'RUNNING' && task.Status !== 'CANCELLING') return task;
    }
    try {
      await sleep(POLL_MS, undefined, { signal });
    } catch {
      return undefined;
    }
  }
}
