/**
 * Lambda's SQS event source mapping, emulated for the loopback world: it long-polls the source queues, gathers
 * batches (batch size, batching window: tools/event-source/gather.ts), runs the function in up to N processes at once
 * per queue (tools/event-source/container.ts), reads each answer as Lambda does (partial batch responses, errors,
 * timeouts, crashes: tools/event-source/batch-response.ts) and deletes exactly the acknowledged records
 * (tools/event-source/acknowledge.ts). The queue's redrive policy moves a record to its DLQ after maxReceiveCount
 * receives: SQS does it, never this emulator.
 *
 * Sources: https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html,
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html,
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html,
 * https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html ("Enabled: When false, Lambda
 * pauses polling and invocation").
 *
 * Our own poller on @aws-sdk/client-sqs, not a library: sqs-consumer 15 needs Node 22 (this project runs on 20), and
 * it, like the other consumers on npm (and serverless-offline-sqs, a plugin of the Serverless Framework), calls a
 * handler in its own process: no batching window, no partial batch response read as Lambda reads it, no environment
 * per process that keeps its module state, times out or crashes.
 *
 * Not modelled: Lambda's scaling (it starts 5 pollers and adds up to 300 per minute; here each queue has one poller
 * and up to `maxConcurrency` invocations at once from the start), its back-off after function errors, the 6 MB payload
 * limit, event filtering, FIFO queues, and the shut-down of idle environments.
 */
import { GetQueueAttributesCommand, type Message } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { lambdaContext, sqsEventFromMessages } from '../aws/lambda-events.js';
import { deleteRecords } from './acknowledge.js';
import { invocationVerdict } from './batch-response.js';
import { type ContainerInfo, ContainerPool } from './container-pool.js';
import { gatherBatch } from './gather.js';
import { checkSettings, type EventSourceMappingOptions } from './options.js';
import { Slots } from './slots.js';
import type { EventSourceObserver, EventSourceStats, InvocationEnd, InvocationRecord, SourceQueue } from './types.js';

export type { InvocationOutcome } from './batch-response.js';
export type { FunctionLogLine } from './container.js';
export type { ContainerInfo } from './container-pool.js';
export type { EventSourceMappingOptions } from './options.js';
export type * from './types.js';

/** Pause after a failed ReceiveMessage, ms. */
const POLL_ERROR_PAUSE_MS = 1_000;

/** The emulated event source mapping. Start it with {@link EventSourceMapping.start}; end it with {@link close}. */
export class EventSourceMapping {
  private readonly pool: ContainerPool;
  private readonly slots: Map<string, Slots>;
  private readonly observer: EventSourceObserver;
  private readonly history: InvocationRecord[] = [];
  private readonly loops = new Set<Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private cycle = new AbortController();
  private isEnabled = false;
  private closed: Promise<void> | undefined;
  private running = 0;
  private readonly counters = {
    receives: 0,
    receivedMessages: 0,
    coldStarts: 0,
    deletedMessages: 0,
    peakConcurrency: 0,
    outcomes: { ok: 0, partial: 0, error: 0, 'invalid-response': 0, timeout: 0, crash: 0 },
  };

  private constructor(
    private readonly options: EventSourceMappingOptions & { batchSize: number; batchingWindowMs: number },
    readonly queues: readonly SourceQueue[],
  ) {
    this.pool = new ContainerPool({ handlerPath: options.handlerPath, env: options.env, logSink: options.logSink });
    this.slots = new Map(queues.map((q) => [q.url, new Slots(options.maxConcurrency)]));
    this.observer = options.observer ?? {};
  }

  /**
   * Reads each queue's ARN and visibility timeout, then starts polling unless `enabled: false`.
   *
   * @throws RangeError when a setting is out of range, or the function timeout exceeds a queue's visibility timeout
   *   (Lambda refuses such a mapping); the SQS client's error when a queue cannot be read
   */
  static async start(options: EventSourceMappingOptions): Promise<EventSourceMapping> {
    const settings = {
      ...options,
      batchSize: options.batchSize ?? 10,
      batchingWindowMs: options.batchingWindowMs ?? 0,
    };
    checkSettings(settings);
    const queues = await Promise.all(
      options.queueUrls.map(async (url): Promise<SourceQueue> => {
        const { Attributes = {} } = await options.client.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'VisibilityTimeout'] }),
        );
        const visibilityMs = Number(Attributes.VisibilityTimeout ?? 30) * 1000;
        if (options.functionTimeoutMs > visibilityMs) {
          throw new RangeError(
            `functionTimeoutMs ${options.functionTimeoutMs} exceeds the visibility timeout of ${url} (${visibilityMs} ms)`,
          );
        }
        if (Attributes.QueueArn === undefined) throw new Error(`${url} has no QueueArn`);
        return { url, arn: Attributes.QueueArn };
      }),
    );
    const mapping = new EventSourceMapping(settings, queues);
    if (options.enabled ?? true) mapping.enable();
    return mapping;
  }

  /** Whether the mapping polls (UpdateEventSourceMapping Enabled). */
  get enabled(): boolean {
    return this.isEnabled;
  }

  /** Starts polling again (Enabled=true). @throws Error after {@link close} */
  enable(): void {
    if (this.closed !== undefined) throw new Error('the event source mapping is closed');
    if (this.isEnabled) return;
    this.isEnabled = true;
    this.cycle = new AbortController();
    for (const queue of this.queues) this.trackLoop(this.poll(queue, this.cycle.signal));
  }

  /**
   * Stops polling (Enabled=false). Invocations under way finish and delete what they acknowledge; a receive under
   * way is let finish (cancelling it could lose its messages until their visibility timeout) and its messages are
   * invoked. Resolves once no receive is under way: from then on the queues' messages stay where they are.
   */
  async disable(): Promise<void> {
    if (this.isEnabled) {
      this.isEnabled = false;
      this.cycle.abort(new Error('the event source mapping was disabled'));
    }
    await Promise.all([...this.loops]);
  }

  /** Resolves once no invocation is under way (new ones may start after, while enabled). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops polling, kills every container (invocations under way end as crashes) and waits for all of it. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.isEnabled = false;
      this.cycle.abort(new Error('the event source mapping was closed'));
      this.closing.abort(new Error('the event source mapping was closed'));
      await this.pool.close('the event source mapping was closed');
      await Promise.allSettled([...this.loops, ...this.inFlight]);
    })();
    return this.closed;
  }

  /** Every invocation so far, oldest first (the objects gain `end` when they end). */
  invocations(): readonly InvocationRecord[] {
    return this.history;
  }

  /** The live containers. */
  containers(): ContainerInfo[] {
    return this.pool.list();
  }

  /** The ID of the container whose invocation under way holds this message, if any. */
  containerRunning(messageId: string): number | undefined {
    return this.pool.running(messageId)?.id;
  }

  /**
   * Kills a container (SIGKILL) at once: its invocation under way ends as a crash, its batch comes back after the
   * visibility timeout, and the next invocation starts cold. @returns false when no such live container exists
   */
  kill(containerId: number): boolean {
    const container = this.pool.get(containerId);
    container?.kill('killed by EventSourceMapping.kill()');
    return container !== undefined;
  }

  /** Freezes a container (SIGSTOP), as Lambda does between invocations. @returns false when there is no such one */
  freeze(containerId: number): boolean {
    const container = this.pool.get(containerId);
    container?.freeze();
    return container !== undefined;
  }

  /** Thaws a frozen container (SIGCONT); an invocation also thaws it. @returns false when there is no such one */
  thaw(containerId: number): boolean {
    const container = this.pool.get(containerId);
    container?.thaw();
    return container !== undefined;
  }

  /** Counters since start. */
  stats(): EventSourceStats {
    const { outcomes, ...counters } = this.counters;
    return {
      ...counters,
      outcomes: { ...outcomes },
      invocations: this.history.length,
      peakContainers: this.pool.peakAlive,
    };
  }

  private async poll(queue: SourceQueue, stop: AbortSignal): Promise<void> {
    const slots = this.slots.get(queue.url) as Slots;
    while (!stop.aborted) {
      try {
        await slots.acquire(stop);
      } catch {
        return;
      }
      let messages: Message[];
      try {
        messages = await gatherBatch(
          this.options.client,
          queue.url,
          { ...this.options, receiveWaitSeconds: this.options.receiveWaitSeconds ?? 20 },
          { stop, abort: this.closing.signal },
          (received) => this.received(queue, received),
        );
      } catch (error) {
        slots.release();
        if (this.closing.signal.aborted) return;
        this.notify(() => this.observer.onPollError?.(error, queue.url));
        await sleep(POLL_ERROR_PAUSE_MS, undefined, { signal: stop }).catch(() => undefined);
        continue;
      }
      if (messages.length === 0 || this.closing.signal.aborted) {
        slots.release();
        continue;
      }
      const work = this.invoke(queue, messages)
        .catch((error: unknown) => this.notify(() => this.observer.onPollError?.(error, queue.url)))
        .finally(() => slots.release());
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work));
    }
  }

  private received(queue: SourceQueue, messages: Message[]): void {
    this.counters.receives += 1;
    this.counters.receivedMessages += messages.length;
    const messageIds = messages.map((m) => m.MessageId as string);
    this.notify(() => this.observer.onReceive?.({ queueArn: queue.arn, messageIds }));
  }

  /** One invocation: a container, the event, the answer read as Lambda reads it, the deletes. Never rejects. */
  private async invoke(queue: SourceQueue, messages: Message[]): Promise<void> {
    const event = sqsEventFromMessages(messages, queue.arn);
    const messageIds = event.Records.map((r) => r.messageId);
    // The serialisable part of the one context factory; the container adds getRemainingTimeInMillis.
    const context = JSON.parse(JSON.stringify(lambdaContext(this.options.functionTimeoutMs))) as {
      awsRequestId: string;
    };
    const { container, cold } = this.pool.take();
    const answering = container.invoke(
      event,
      { ...context, logStreamName: `container-${container.id}` },
      context.awsRequestId,
      this.options.functionTimeoutMs,
    );
    const invocation: InvocationRecord = {
      seq: this.history.length + 1,
      requestId: context.awsRequestId,
      containerId: container.id,
      cold,
      queueUrl: queue.url,
      queueArn: queue.arn,
      records: event.Records.map((r) => ({
        messageId: r.messageId,
        receiveCount: Number(r.attributes?.ApproximateReceiveCount ?? 0),
      })),
      startedAt: Date.now(),
    };
    this.history.push(invocation);
    if (cold) this.counters.coldStarts += 1;
    this.running += 1;
    this.counters.peakConcurrency = Math.max(this.counters.peakConcurrency, this.running);
    this.notify(() => this.observer.onInvocationStart?.(invocation));

    const verdict = invocationVerdict(await answering, messageIds);
    this.running -= 1;
    const retry = new Set(verdict.retry);
    const acknowledged = messages
      .filter((m) => !retry.has(m.MessageId as string))
      .map((m) => ({ messageId: m.MessageId as string, receiptHandle: m.ReceiptHandle as string }));
    const deletes =
      acknowledged.length > 0
        ? await deleteRecords(this.options.client, queue.url, acknowledged)
        : { deleted: [], failed: [] };
    const end: InvocationEnd = {
      outcome: verdict.outcome,
      detail: verdict.detail,
      retried: verdict.retry,
      deleted: deletes.deleted,
      deleteFailures: deletes.failed,
      endedAt: Date.now(),
    };
    invocation.end = end;
    this.counters.outcomes[end.outcome] += 1;
    this.counters.deletedMessages += end.deleted.length;
    this.notify(() => this.observer.onInvocationEnd?.({ ...invocation, end }));
  }

  private trackLoop(loop: Promise<void>): void {
    this.loops.add(loop);
    void loop.finally(() => this.loops.delete(loop));
  }

  /** Runs an observer callback; a throw is rethrown on its own, so it fails loudly without breaking the poller. */
  private notify(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
