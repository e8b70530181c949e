/** The emulated event source mapping's settings, with Lambda's names and limits, and their check. */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { FunctionLogLine } from './container.js';
import type { EventSourceObserver } from './types.js';

/** The mapping's settings, with Lambda's names and limits unless said otherwise. */
export interface EventSourceMappingOptions {
  /** The client for the queues' server; the mapping does not destroy it. */
  client: SQSClient;
  /** The source queues' URLs (each one a mapping of its own in Lambda's terms, with the settings below). */
  queueUrls: readonly string[];
  /** The handler module: an ESM file exporting `handler(event, context)`, e.g. `bundleHandler(outFile)`'s output. */
  handlerPath: string;
  /** The function's whole environment, as its processes get it. */
  env: Record<string, string>;
  /** The function timeout, ms (1–900 000; at most the queues' visibility timeout, as Lambda checks). */
  functionTimeoutMs: number;
  /** MaximumConcurrency: invocations (containers) at once per queue (≥ 1; Lambda's minimum of 2 is not enforced). */
  maxConcurrency: number;
  /** BatchSize: 1–10 000, above 10 only with a batching window. @default 10 */
  batchSize?: number;
  /** MaximumBatchingWindowInSeconds, in ms so rehearsals can scale it (0–300 000). @default 0 */
  batchingWindowMs?: number;
  /** WaitTimeSeconds of the long poll for a batch's first record (1–20); `disable()` waits for one. @default 20 */
  receiveWaitSeconds?: number;
  /** Enabled: whether polling starts at once. @default true */
  enabled?: boolean;
  /** Receives the function's log lines (its stdout and stderr, line by line). @default dropped */
  logSink?: (line: FunctionLogLine) => void;
  observer?: EventSourceObserver;
}

/** @throws RangeError naming the first setting out of Lambda's range (or ours, where said) */
export function checkSettings(s: EventSourceMappingOptions & { batchSize: number; batchingWindowMs: number }): void {
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(`event source mapping: ${message}`);
  };
  const int = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;
  check(s.queueUrls.length > 0, 'queueUrls must name at least one queue');
  check(int(s.batchSize, 1, 10_000), `batchSize must be an integer from 1 to 10000, not ${s.batchSize}`);
  check(
    Number.isFinite(s.batchingWindowMs) && s.batchingWindowMs >= 0 && s.batchingWindowMs <= 300_000,
    `batchingWindowMs must be from 0 to 300000, not ${s.batchingWindowMs}`,
  );
  check(s.batchSize <= 10 || s.batchingWindowMs > 0, 'a batchSize above 10 needs a batching window, as on Lambda');
  check(int(s.maxConcurrency, 1, 1000), `maxConcurrency must be an integer from 1 to 1000, not ${s.maxConcurrency}`);
  check(
    Number.isFinite(s.functionTimeoutMs) && s.functionTimeoutMs > 0 && s.functionTimeoutMs <= 900_000,
    `functionTimeoutMs must be above 0 and at most 900000, not ${s.functionTimeoutMs}`,
  );
  const wait = s.receiveWaitSeconds ?? 20;
  check(int(wait, 1, 20), `receiveWaitSeconds must be an integer from 1 to 20, not ${wait}`);
}
