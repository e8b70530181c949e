/**
 * Lambda's reading of a partial batch response (ReportBatchItemFailures) for an SQS event source, from "Success and
 * failure conditions" in https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html:
 *
 * - complete success: an empty `batchItemFailures` list, a null one, an empty response, a null response;
 * - complete failure: an invalid JSON response, an empty string `itemIdentifier`, a null `itemIdentifier`, an
 *   `itemIdentifier` with a bad key name, an `itemIdentifier` value with a message ID that doesn't exist (in the
 *   batch).
 *
 * Where the page says nothing, the rule that keeps records is taken: a response that is not an object (a string, a
 * number, a list), a `batchItemFailures` that is not a list, an entry that is not an object or whose identifier is
 * not a string are invalid, so the whole batch comes back. Keys other than `batchItemFailures` (e.g. a
 * `statusCode`) are ignored, as an object with no `batchItemFailures` is the documented null list.
 *
 * A function error, a timeout or a crash fails the whole batch ("If your function throws an error, the entire batch
 * is considered a complete failure", same page; timeouts and crashes are errors of the invocation).
 */
import type { ContainerAnswer } from './container.js';

/** The records to retry, or why the response fails the whole batch. */
export type BatchResponseVerdict = { valid: true; failed: string[] } | { valid: false; reason: string };

/**
 * Judges a handler's response (already parsed from JSON) for a batch of these message IDs.
 *
 * @returns `valid: true` with the message IDs to leave on the queue (none for a complete success, each once), or
 *   `valid: false` with the reason the whole batch failed
 */
export function judgeBatchResponse(response: unknown, messageIds: readonly string[]): BatchResponseVerdict {
  if (response === null || response === undefined) return { valid: true, failed: [] };
  if (typeof response !== 'object' || Array.isArray(response)) {
    return invalid(`the response is ${Array.isArray(response) ? 'a list' : `a ${typeof response}`}, not an object`);
  }
  const list = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === null || list === undefined) return { valid: true, failed: [] };
  if (!Array.isArray(list)) return invalid(`batchItemFailures is a ${typeof list}, not a list`);
  const inBatch = new Set(messageIds);
  const failed = new Set<string>();
  for (const [index, entry] of list.entries()) {
    const at = `batchItemFailures[${index}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return invalid(`${at} is not an object`);
    if (!('itemIdentifier' in entry)) {
      return invalid(`${at} has no itemIdentifier (keys: ${Object.keys(entry).join(', ') || 'none'})`);
    }
    const id: unknown = entry.itemIdentifier;
    if (id === null || id === undefined) return invalid(`${at}.itemIdentifier is null`);
    if (typeof id !== 'string') return invalid(`${at}.itemIdentifier is a ${typeof id}, not a string`);
    if (id === '') return invalid(`${at}.itemIdentifier is empty`);
    if (!inBatch.has(id)) return invalid(`${at}.itemIdentifier ${JSON.stringify(id)} is no message of this batch`);
    failed.add(id);
  }
  return { valid: true, failed: [...failed] };
}

function invalid(reason: string): BatchResponseVerdict {
  return { valid: false, reason };
}

/** How Lambda ends an invocation, from the container's answer. */
export type InvocationOutcome =
  /** A complete success: every record is deleted. */
  | 'ok'
  /** A valid partial batch response: the listed records stay, the others are deleted. */
  | 'partial'
  /** The handler threw or rejected: the whole batch stays; the environment stays warm. */
  | 'error'
  /** The response broke a rule above, or was not JSON: the whole batch stays. */
  | 'invalid-response'
  /** No answer within the function timeout: the whole batch stays, the environment is killed. */
  | 'timeout'
  /** The process died (or was killed) first: the whole batch stays, the next environment is cold. */
  | 'crash';

/** The outcome, why (for the failures), and the records to leave on the queue. */
export interface InvocationVerdict {
  outcome: InvocationOutcome;
  detail: string | undefined;
  /** Message IDs not to delete: the listed failures of a partial response, every record otherwise. */
  retry: string[];
}

/** Reads a container's answer as Lambda reads the invocation result (see the module comment). */
export function invocationVerdict(answer: ContainerAnswer, messageIds: readonly string[]): InvocationVerdict {
  const all = (outcome: InvocationOutcome, detail: string): InvocationVerdict => ({
    outcome,
    detail,
    retry: [...messageIds],
  });
  switch (answer.kind) {
    case 'returned': {
      let response: unknown;
      try {
        response = JSON.parse(answer.json);
      } catch {
        return all('invalid-response', 'the response is not JSON');
      }
      const verdict = judgeBatchResponse(response, messageIds);
      if (!verdict.valid) return all('invalid-response', verdict.reason);
      return { outcome: verdict.failed.length > 0 ? 'partial' : 'ok', detail: undefined, retry: verdict.failed };
    }
    case 'error':
      return all('error', `${answer.errorType}: ${answer.errorMessage}`);
    case 'unserializable':
      return all('invalid-response', `the response cannot be serialised: ${answer.errorMessage}`);
    case 'timeout':
      return all('timeout', 'no answer within the function timeout');
    case 'crash':
      return all('crash', answer.detail);
  }
}
