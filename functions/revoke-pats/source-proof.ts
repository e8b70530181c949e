/**
 * The source proof (CONTRACT section 2, `SOURCE_QUEUE_URLS`): before any Dfns call, every record is shown to come
 * from its queue. Any role with `lambda:InvokeFunction` can hand the function an SQS-shaped event, and every field
 * of such an event can be forged; a live receipt handle cannot. So each record's receipt handle is used once, with
 * `ChangeMessageVisibilityBatch` on the queue its `eventSourceARN` names, setting the visibility to the queue's own
 * `VisibilityTimeout` (so the call changes nothing a real delivery would not have had anyway). SQS accepting the
 * handle is the proof; getting a live handle takes `sqs:ReceiveMessage` on the queue, which its policy grants only
 * to the function and break-glass.
 *
 * What SQS answers, and what each answer means here (sources: the API references of ChangeMessageVisibilityBatch
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibilityBatch.html,
 * ChangeMessageVisibility and "Common Errors" .../APIReference/CommonErrors.html; SQS' "Troubleshoot Amazon SQS API
 * errors" .../SQSDeveloperGuide/troubleshooting-api-errors.html; the error registry of @aws-sdk/client-sqs):
 *
 * | answer (per entry `Failed[].Code`, or a whole call's error `name` / `Code`) | verdict |
 * |---|---|
 * | `ReceiptHandleIsInvalid`: a handle SQS never issued for this queue | refused |
 * | `InvalidParameterValue` "… Reason: Message does not exist or is not available for visibility timeout change." (a deleted message's handle), `MessageNotInflight` | stale |
 * | `AccessDenied` / `AccessDeniedException`, any KMS error (`Kms*`, `KMS.*`), `QueueDoesNotExist` (`AWS.SimpleQueueService.NonExistentQueue`, also SQS' answer to a role without access), `InvalidAddress`, `InvalidSecurity` | configFault |
 * | anything else: throttling, 5xx, network, timeouts, an entry missing from both `Successful` and `Failed` | retry |
 *
 * Over the AWS JSON protocol the SDK names a modelled error by its shape (`QueueDoesNotExist`) and puts the query
 * code of the `x-amzn-query-error` header in `Code` (`AWS.SimpleQueueService.NonExistentQueue`); an error SQS does
 * not model (`AccessDenied`, `InvalidParameterValue`) gets that code as its `name`. Both are read.
 *
 * Receipt handles are never logged, and AWS' messages quote them (`The input receipt handle "…" is not a valid
 * receipt handle.`, `Value … for parameter ReceiptHandle is invalid.`): a verdict's `detail` is built from the code
 * and a fixed explanation only, never from a message.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchResult,
  GetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import type { SourceQueue } from '../lib/config.js';
import { queueOf } from './continuation.js';

/** What the proof reads of a record (the SQS event's `messageId`, `receiptHandle`, `eventSourceARN`). */
export interface ProofRecord {
  messageId: string;
  /** Checked at run time too: in a forged event it may be anything. */
  receiptHandle?: string;
  /** `arn:aws:sqs:<region>:<account>:<queue>`. */
  eventSourceArn?: string;
}

/**
 * The verdict on one record.
 * - `proven`: SQS took its receipt handle on its queue; its visibility is now the queue's own timeout.
 * - `refused`: it did not come from its queue (a forged event or a misconfigured event source): `ERROR`,
 *   `ForgedRecords`.
 * - `stale`: its message was already deleted or is no longer in flight: skipped quietly.
 * - `configFault`: the proof could not run for a reason an operator must fix (IAM, KMS, the queue list): `ERROR`,
 *   retried.
 * - `retry`: the proof could not run this time (throttling, 5xx, network, the invocation's deadline).
 *
 * `detail`, for a log line: the queue's name, the operation, the code and why; never a receipt handle or AWS' message.
 */
export type ProofVerdict =
  | { verdict: 'proven' }
  | { verdict: 'refused'; detail: string }
  | { verdict: 'stale'; detail: string }
  | { verdict: 'configFault'; detail: string }
  | { verdict: 'retry'; detail: string };

/** Proves records' source. */
export interface SourceProof {
  /**
   * @param records the batch's records, every one given a verdict (none is ever missing from the answer)
   * @param signal aborts the calls (the invocation's deadline): records not yet answered are `retry`
   * @returns the verdict per `messageId`; a `messageId` given twice gets the worse of its records' verdicts
   * @throws never: every failure is a verdict
   */
  prove(records: readonly ProofRecord[], signal: AbortSignal): Promise<Map<string, ProofVerdict>>;
}

/** SQS' most entries in one `ChangeMessageVisibilityBatch`. */
export const PROOF_BATCH_SIZE = 10;
/** Batch calls in flight at once within one `prove` (a batch of up to 10 000 records makes up to 1000 calls). */
export const MAX_CONCURRENT_PROOF_CALLS = 10;
/**
 * Longest receipt handle taken to SQS, in characters. SQS documents no limit and issues a few hundred characters of
 * base64; a longer one could only be forged, and would fail the whole call instead of its entry.
 */
export const MAX_RECEIPT_HANDLE_LENGTH = 8192;
/** SQS' visibility timeout range, in seconds (0 to 12 hours). */
const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;

/** Printable ASCII without spaces: every receipt handle SQS issues (base64) fits it. */
const HANDLE_SHAPE = /^[\x21-\x7e]+$/;
/** An SQS queue ARN: shown in a detail only when it has this shape (the event, and so the ARN, may be forged). */
const QUEUE_ARN = /^arn:aws[a-z-]*:sqs:[a-z0-9-]{1,30}:\d{12}:[A-Za-z0-9_-]{1,80}(?:\.fifo)?$/;
/** What a code must look like to be shown in a detail: an AWS code never quotes anything. */
const CODE_SHAPE = /^[A-Za-z0-9._:-]{1,100}$/;
/** The reason of `InvalidParameterValue` that SQS gives for a deleted message's handle. */
const NOT_AVAILABLE = /does not exist or is not available/i;
/** The prefix of SQS' own query error codes (`AWS.SimpleQueueService.NonExistentQueue`). */
const SQS_PREFIX = 'AWS.SimpleQueueService.';

type Failed = Exclude<ProofVerdict, { verdict: 'proven' }>;

/** Which verdict wins when one `messageId` has several records. */
const SEVERITY: Record<ProofVerdict['verdict'], number> = { proven: 0, stale: 1, retry: 2, configFault: 3, refused: 4 };

const NO_ACCESS = "the function's role may not do this on the queue: check its IAM policy and the queue policy";
const NO_QUEUE = 'the queue does not exist, or the role may not see it: check SOURCE_QUEUE_URLS and the queue policy';
/** Fixed explanations of the codes a verdict names (never AWS' message, which may quote the handle). */
const CONFIG_FAULTS: Record<string, string> = {
  AccessDenied: NO_ACCESS,
  AccessDeniedException: NO_ACCESS,
  QueueDoesNotExist: NO_QUEUE,
  NonExistentQueue: NO_QUEUE,
  InvalidAddress: 'the queue URL names an invalid account: check SOURCE_QUEUE_URLS',
  InvalidSecurity: 'the request was not HTTPS with SigV4: check SOURCE_QUEUE_URLS and the SQS endpoint',
};
const KMS_FAULT = "KMS refused SQS' use of the queue key: check the key policy and the key's state";

/** One SQS answer, as the classification reads it. */
interface Answer {
  /** The codes it carries, as given (only what looks like a code). */
  codes: string[];
  /** AWS' message: read for a known reason, never shown. */
  message: string;
  status?: number;
}

/**
 * The source proof over SQS.
 *
 * @param sqs the client (its endpoint follows each queue URL's host)
 * @param queues `SOURCE_QUEUE_URLS`, parsed; a record whose `eventSourceARN` names none of them is refused
 */
export function sqsSourceProof(sqs: SQSClient, queues: readonly SourceQueue[]): SourceProof {
  // Per queue URL, for the container's life: the queue's VisibilityTimeout (s). A failure is not kept, so the next
  // invocation asks again.
  const timeouts = new Map<string, Promise<number>>();

  const visibilityTimeoutOf = (queue: SourceQueue, signal: AbortSignal): Promise<number> => {
    const known = timeouts.get(queue.url);
    if (known !== undefined) return known;
    const asked = sqs
      .send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['VisibilityTimeout'] }), {
        abortSignal: signal,
      })
      .then((answer) => {
        const text = answer.Attributes?.VisibilityTimeout;
        const seconds = text !== undefined && /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
        if (!(seconds <= MAX_VISIBILITY_TIMEOUT_SECONDS)) throw new UnusableAttributes();
        return seconds;
      });
    timeouts.set(queue.url, asked);
    const forget = () => {
      if (timeouts.get(queue.url) === asked) timeouts.delete(queue.url);
    };
    let settled = false;
    asked.then(() => {
      settled = true;
    }, forget);
    // A call the deadline cut short is not waited for by the next invocation, even if the client never ends it.
    signal.addEventListener('abort', () => settled || forget(), { once: true });
    return asked;
  };

  return {
    async prove(records, signal) {
      const verdicts = new Map<string, ProofVerdict>();
      const give = (messageId: string, verdict: ProofVerdict) => {
        const before = verdicts.get(messageId);
        if (!before || SEVERITY[verdict.verdict] > SEVERITY[before.verdict]) verdicts.set(messageId, verdict);
      };

      // Records that cannot be proven are refused before any call; the others are grouped by queue.
      const byQueue = new Map<SourceQueue, Array<{ messageId: string; handle: string }>>();
      for (const record of records) {
        const arn = typeof record.eventSourceArn === 'string' ? record.eventSourceArn : undefined;
        const queue =
          arn === undefined ? undefined : queueOf({ messageId: record.messageId, eventSourceArn: arn }, queues);
        const handle: unknown = record.receiptHandle;
        if (!queue) {
          const named = arn !== undefined && QUEUE_ARN.test(arn) ? arn : 'a missing or malformed ARN';
          give(record.messageId, {
            verdict: 'refused',
            detail: `its eventSourceARN (${named}) names no queue of SOURCE_QUEUE_URLS`,
          });
        } else if (handle === undefined || handle === null || handle === '') {
          give(record.messageId, { verdict: 'refused', detail: `${queue.name}: the record has no receipt handle` });
        } else if (
          typeof handle !== 'string' ||
          handle.length > MAX_RECEIPT_HANDLE_LENGTH ||
          !HANDLE_SHAPE.test(handle)
        ) {
          give(record.messageId, {
            verdict: 'refused',
            detail: `${queue.name}: its receipt handle is not one SQS issues (not a string of printable ASCII up to ${MAX_RECEIPT_HANDLE_LENGTH} characters)`,
          });
        } else {
          const list = byQueue.get(queue) ?? [];
          list.push({ messageId: record.messageId, handle });
          byQueue.set(queue, list);
        }
      }
      if (byQueue.size === 0) return verdicts;

      // The deadline ends every wait, even a call the client does not abort.
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new DeadlineReached());
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => {});
      const limit = pLimit(MAX_CONCURRENT_PROOF_CALLS);

      const proveQueue = async (queue: SourceQueue, entries: Array<{ messageId: string; handle: string }>) => {
        let seconds: number;
        try {
          seconds = await Promise.race([visibilityTimeoutOf(queue, signal), aborted]);
        } catch (error) {
          const verdict = attributesVerdict(queue, error);
          for (const { messageId } of entries) give(messageId, verdict);
          return;
        }
        const chunks: Array<typeof entries> = [];
        for (let i = 0; i < entries.length; i += PROOF_BATCH_SIZE) chunks.push(entries.slice(i, i + PROOF_BATCH_SIZE));
        await Promise.all(
          chunks.map((chunk) =>
            limit(async () => {
              let result: ChangeMessageVisibilityBatchResult;
              try {
                if (signal.aborted) throw new DeadlineReached();
                result = await Promise.race([
                  sqs.send(
                    new ChangeMessageVisibilityBatchCommand({
                      QueueUrl: queue.url,
                      // Ids are the entries' positions: a batch entry Id allows only [A-Za-z0-9_-]{1,80}, and a
                      // messageId comes from the event, which may be forged.
                      Entries: chunk.map((entry, index) => ({
                        Id: String(index),
                        ReceiptHandle: entry.handle,
                        VisibilityTimeout: seconds,
                      })),
                    }),
                    { abortSignal: signal },
                  ),
                  aborted,
                ]);
              } catch (error) {
                const verdict = classify(queue, 'ChangeMessageVisibilityBatch', answerOf(error));
                for (const { messageId } of chunk) give(messageId, verdict);
                return;
              }
              const succeeded = new Set((result.Successful ?? []).map((entry) => entry.Id));
              const failed = new Map((result.Failed ?? []).map((entry) => [entry.Id, entry]));
              chunk.forEach(({ messageId }, index) => {
                const id = String(index);
                const failure = failed.get(id);
                if (failure) {
                  const answer: Answer = { codes: codesOf(failure.Code), message: failure.Message ?? '' };
                  give(messageId, classify(queue, 'ChangeMessageVisibilityBatch', answer));
                } else if (succeeded.has(id)) {
                  give(messageId, { verdict: 'proven' });
                } else {
                  give(messageId, {
                    verdict: 'retry',
                    detail: `ChangeMessageVisibilityBatch ${queue.name}: SQS reported neither success nor failure for the record`,
                  });
                }
              });
            }),
          ),
        );
      };

      try {
        await Promise.all([...byQueue].map(([queue, entries]) => proveQueue(queue, entries)));
      } finally {
        if (onAbort) signal.removeEventListener('abort', onAbort);
      }
      return verdicts;
    },
  };
}

/** The invocation's deadline came before SQS answered. */
class DeadlineReached extends Error {
  override name = 'DeadlineReached';
}

/** `GetQueueAttributes` answered without a usable `VisibilityTimeout`. */
class UnusableAttributes extends Error {
  override name = 'UnusableAttributes';
}

/**
 * The verdict of a queue's records when its `VisibilityTimeout` could not be read. Only the configuration faults
 * and `retry` apply: a handle was not yet used, so nothing was refused.
 */
function attributesVerdict(queue: SourceQueue, error: unknown): Failed {
  const verdict = classify(queue, 'GetQueueAttributes', answerOf(error));
  if (verdict.verdict === 'configFault' || verdict.verdict === 'retry') return verdict;
  return { verdict: 'retry', detail: verdict.detail };
}

/** The codes, message and HTTP status of a thrown error (an AWS SDK v3 service exception or anything else). */
function answerOf(error: unknown): Answer {
  // The client's own abort (the same signal) and our race with it mean the same: the deadline.
  if (error instanceof DeadlineReached || (error instanceof Error && error.name === 'AbortError')) {
    return { codes: ['DeadlineReached'], message: '' };
  }
  if (error instanceof UnusableAttributes) return { codes: ['UnusableAttributes'], message: '' };
  const fields = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    Code?: unknown;
    code?: unknown;
    message?: unknown;
    Error?: { Code?: unknown };
    $metadata?: { httpStatusCode?: unknown };
  };
  const status = fields.$metadata?.httpStatusCode;
  return {
    codes: [fields.name, fields.Code, fields.Error?.Code, fields.code].flatMap(codesOf),
    message: typeof fields.message === 'string' ? fields.message : '',
    ...(typeof status === 'number' ? { status } : {}),
  };
}

/** A code, if it looks like one (anything else could quote what a detail must not show). */
function codesOf(code: unknown): string[] {
  return typeof code === 'string' && CODE_SHAPE.test(code) ? [code] : [];
}

/** The one mapping of an SQS answer to a verdict (see the table at the top). */
function classify(queue: SourceQueue, operation: string, answer: Answer): Failed {
  const raw = [...new Set(answer.codes)];
  // SQS' query codes also without their prefix: `AWS.SimpleQueueService.MessageNotInflight` is `MessageNotInflight`.
  const codes = raw.flatMap((code) => (code.startsWith(SQS_PREFIX) ? [code, code.slice(SQS_PREFIX.length)] : [code]));
  const status = answer.status === undefined ? '' : ` (HTTP ${answer.status})`;
  const shown = `${operation} ${queue.name}: ${raw.length ? raw.join(' / ') : 'an error without a code'}${status}`;
  const has = (code: string) => codes.includes(code);
  if (has('ReceiptHandleIsInvalid')) {
    return { verdict: 'refused', detail: `${shown}: SQS never issued this receipt handle for the queue` };
  }
  if (has('MessageNotInflight')) {
    return { verdict: 'stale', detail: `${shown}: the message is no longer in flight` };
  }
  if (has('InvalidParameterValue') && NOT_AVAILABLE.test(answer.message)) {
    return { verdict: 'stale', detail: `${shown}: the message does not exist or is not available (already deleted)` };
  }
  const fault = codes.map((code) => CONFIG_FAULTS[code]).find((why) => why !== undefined);
  if (fault) return { verdict: 'configFault', detail: `${shown}: ${fault}` };
  if (codes.some((code) => code.startsWith('Kms') || code.startsWith('KMS.'))) {
    return { verdict: 'configFault', detail: `${shown}: ${KMS_FAULT}` };
  }
  if (has('DeadlineReached')) {
    return {
      verdict: 'retry',
      detail: `${operation} ${queue.name}: the invocation's deadline came before SQS answered`,
    };
  }
  if (has('UnusableAttributes')) {
    return { verdict: 'retry', detail: `${operation} ${queue.name}: no VisibilityTimeout of 0–43200 s in the answer` };
  }
  return { verdict: 'retry', detail: `${shown}: retried` };
}
