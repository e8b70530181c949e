/** What the emulated event source mapping tells of its work: invocations, their endings, counters. */
import type { InvocationOutcome } from './batch-response.js';

/** A source queue: its URL and its ARN (the records' `eventSourceARN`), read with GetQueueAttributes. */
export interface SourceQueue {
  url: string;
  arn: string;
}

/** One invocation: what it was given, and once it is over, how it ended. */
export interface InvocationRecord {
  /** 1, 2, … in the order invocations started. */
  seq: number;
  /** The context's `awsRequestId`. */
  requestId: string;
  containerId: number;
  /** Whether the container was new (its Init ran for this invocation). */
  cold: boolean;
  queueUrl: string;
  queueArn: string;
  /** The batch: each record's message ID and ApproximateReceiveCount, in the event's order. */
  records: ReadonlyArray<{ messageId: string; receiveCount: number }>;
  /** Epoch ms. */
  startedAt: number;
  /** Set when the invocation is over and its records are deleted. */
  end?: InvocationEnd;
}

/** How an invocation ended. */
export interface InvocationEnd {
  outcome: InvocationOutcome;
  /** Why it failed (error, reason the response is invalid, exit code or signal); undefined for ok and partial. */
  detail: string | undefined;
  /** Message IDs left on the queue to come back after their visibility timeout. */
  retried: string[];
  /** Message IDs deleted. */
  deleted: string[];
  /** Acknowledged records SQS did not delete (they come back too). */
  deleteFailures: Array<{ messageId: string; reason: string }>;
  /** Epoch ms. */
  endedAt: number;
}

/** Callbacks for tests and the benchmark; each runs synchronously and must not throw (a throw is rethrown apart). */
export interface EventSourceObserver {
  /** A ReceiveMessage returned messages (before its batch is complete or invoked). */
  onReceive?(received: { queueArn: string; messageIds: string[] }): void;
  /** An invocation was sent to its container (`containerRunning` finds it from now on). */
  onInvocationStart?(invocation: InvocationRecord): void;
  /** An invocation ended and its acknowledged records were deleted. */
  onInvocationEnd?(invocation: InvocationRecord & { end: InvocationEnd }): void;
  /** A ReceiveMessage failed; the poller pauses a second and goes on. */
  onPollError?(error: unknown, queueUrl: string): void;
}

/** Counters since start. */
export interface EventSourceStats {
  /** Non-empty receives and the messages they returned (a message received twice counts twice). */
  receives: number;
  receivedMessages: number;
  invocations: number;
  coldStarts: number;
  outcomes: Record<InvocationOutcome, number>;
  deletedMessages: number;
  /** The most invocations under way at once, over all queues. */
  peakConcurrency: number;
  /** The most containers alive at once. */
  peakContainers: number;
}
