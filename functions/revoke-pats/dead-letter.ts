/**
 * Permanent failures → the dead-letter queue (CONTRACT section 6), with `@aws-sdk/client-sqs`.
 *
 * The body is itself a valid revocation request holding only the failed token IDs, so once the cause is fixed the
 * message can be redriven unchanged; `failures` says what happened to each, and raw values that are not token IDs
 * appear only there.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { TOKEN_ID_PATTERN } from '../lib/dfns/client.js';
import { maskSecrets } from '../lib/secret-values.js';
import type { Outcome } from './outcomes.js';
import { MAX_BODY_BYTES, type RequestMetadata } from './request.js';

/** One failed entry of a record. */
export interface DeadLetterFailure {
  /** The token ID, or the raw value as received when it was not a token ID (`null` when the body had none). */
  tokenId: unknown;
  /** `jwt sha256:<hex>` when the token was named by a leaked access token (CONTRACT section 4). */
  receivedAs?: string;
  outcome: Outcome;
  detail: string;
}

/**
 * Who sent a record and when, and what its envelope claims (the `claimed…` fields are the sender's own words): on
 * its audit lines and dead letters.
 */
export interface Attribution {
  /** The record's `SenderId` (for a continuation from the function's own role: the original's). */
  senderId?: string;
  /** When it was sent, ISO 8601 (the original's, for such a continuation). */
  sentAt?: string;
  /** The chain the record belongs to, for a continuation. */
  continuationOf?: string;
  claimedTopicArn?: string;
  claimedEventSource?: string;
  claimedEventAccount?: string;
}

/** The dead-letter message body (CONTRACT section 6). */
export interface DeadLetterMessage extends Omit<Attribution, 'continuationOf'> {
  /** Failed valid token IDs only: redriving the message retries exactly these. */
  tokenIds: string[];
  incidentId?: string;
  reason?: string;
  requestedBy?: string;
  dryRun?: boolean;
  failures: DeadLetterFailure[];
  /** `messageId` of the record this came from. */
  sourceMessageId: string;
  /**
   * For a continued request: the chain's original `messageId`, kept so a redrive is still the same request to the
   * no-budget-twice memory; `firstRequestedAt` and `continuationCount` are dropped, so a redrive starts a fresh chain.
   */
  continuationOf?: string;
  /** The original body, when it was refused as a request (for the human who fixes it); cut when large. */
  body?: string;
  /** Set when `body` holds only the start of the original body. */
  bodyTruncated?: true;
  /** Set when `failures` holds only the first failures: the message would not fit in one SQS message. */
  failuresTruncated?: true;
  /** With `failuresTruncated`: how many failures are not shown. */
  failuresNotShown?: number;
}

/** Most characters of JSON the original body may take in a dead-letter message (SQS messages are limited). */
export const MAX_DEAD_LETTER_BODY_CHARS = 64 * 1024;

/**
 * Most UTF-8 bytes of a dead-letter body: the request queue's limit (so a redrive is always accepted), less room for
 * the message attributes, which SQS counts in the same limit.
 */
export const MAX_DEAD_LETTER_BYTES = MAX_BODY_BYTES - 1024;

/**
 * Sends one dead-letter message; `signal` aborts it (the invocation deadline).
 * @throws when it was not accepted: the caller must then retry the record.
 */
export type DeadLetterSender = (message: DeadLetterMessage, signal?: AbortSignal) => Promise<void>;

/**
 * Builds the dead-letter message of a record.
 *
 * @param sourceMessageId the record's `messageId`
 * @param metadata the request's metadata (kept even when the request itself was refused)
 * @param failures the record's permanent failures, in request order
 * @param refusedBody the record body when it was refused whole; kept up to {@link MAX_DEAD_LETTER_BODY_CHARS}
 * @param attribution who sent the record and when, and its envelope's claims
 */
export function buildDeadLetter(
  sourceMessageId: string,
  metadata: RequestMetadata,
  failures: DeadLetterFailure[],
  refusedBody?: string,
  attribution: Attribution = {},
): DeadLetterMessage {
  // Only what a redrive can act on: a failure whose value is no token ID (never expected here) stays in `failures`.
  const tokenIds = failures
    .filter((f) => f.outcome !== 'invalid' && typeof f.tokenId === 'string' && TOKEN_ID_PATTERN.test(f.tokenId))
    .map((f) => f.tokenId as string);
  return fitFailures({
    tokenIds,
    ...(metadata.incidentId === undefined ? {} : { incidentId: metadata.incidentId }),
    ...(metadata.reason === undefined ? {} : { reason: metadata.reason }),
    ...(metadata.requestedBy === undefined ? {} : { requestedBy: metadata.requestedBy }),
    ...(metadata.dryRun ? { dryRun: true } : {}),
    failures,
    sourceMessageId,
    ...attribution,
    ...(metadata.continuationOf === undefined ? {} : { continuationOf: metadata.continuationOf }),
    ...(refusedBody === undefined ? {} : keepBody(refusedBody)),
  });
}

/**
 * The message itself when it fits in {@link MAX_DEAD_LETTER_BYTES}, else with only some of its failures (CONTRACT
 * section 6: `failuresTruncated`, the rest counted). The failures of the token IDs in `tokenIds` (at most 100, what a
 * redrive retries) are always kept; then the invalid values, first ones first, as many as fit. Order is kept.
 */
function fitFailures(message: DeadLetterMessage): DeadLetterMessage {
  const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
  if (bytes(message) <= MAX_DEAD_LETTER_BYTES) return message;
  const all = message.failures;
  const keep = new Set(all.filter((f) => f.outcome !== 'invalid'));
  // The frame with every failure counted as not shown is the largest the count can make it.
  let size = bytes({ ...message, failures: [], failuresTruncated: true, failuresNotShown: all.length });
  for (const failure of keep) size += bytes(failure) + 1;
  for (const failure of all) {
    if (keep.has(failure)) continue;
    const next = size + bytes(failure) + 1;
    if (next > MAX_DEAD_LETTER_BYTES) break;
    size = next;
    keep.add(failure);
  }
  const failures = all.filter((f) => keep.has(f));
  return { ...message, failures, failuresTruncated: true, failuresNotShown: all.length - failures.length };
}

/**
 * The original body, secret-shaped runs shown only as fingerprints (CONTRACT section 6), or as much of its start as
 * fits once JSON-escaped (escaping can grow text sixfold).
 */
function keepBody(received: string): { body: string; bodyTruncated?: true } {
  const body = maskSecrets(received);
  if (JSON.stringify(body).length <= MAX_DEAD_LETTER_BODY_CHARS) return { body };
  let head = body.slice(0, MAX_DEAD_LETTER_BODY_CHARS);
  while (JSON.stringify(head).length > MAX_DEAD_LETTER_BODY_CHARS) head = head.slice(0, Math.floor(head.length * 0.75));
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  return { body: head, bodyTruncated: true };
}

/**
 * The `outcome` message attribute: the outcome all failures share, or `mixed`; failures not shown (only invalid
 * values are ever left out) count too.
 */
export function sharedOutcome(message: Pick<DeadLetterMessage, 'failures' | 'failuresNotShown'>): string {
  const outcomes = new Set<string>(message.failures.map((f) => f.outcome));
  if ((message.failuresNotShown ?? 0) > 0) outcomes.add('invalid');
  const [first, second] = outcomes;
  return first !== undefined && second === undefined ? first : 'mixed';
}

/**
 * A sender to an SQS queue. The SQS client sends to the queue URL's own host, which is how tests and the demo
 * reach a loopback SQS.
 */
export function sqsDeadLetterSender(client: SQSClient, queueUrl: string): DeadLetterSender {
  return async (message, signal) => {
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: sqsSafeJson(message),
        MessageAttributes: {
          outcome: { DataType: 'String', StringValue: sharedOutcome(message) },
          sourceMessageId: { DataType: 'String', StringValue: message.sourceMessageId },
        },
      }),
      signal ? { abortSignal: signal } : {},
    );
  };
}

/**
 * JSON text SQS accepts: JSON.stringify leaves U+FFFE and U+FFFF raw, and SQS refuses them (its allowed characters
 * are #x9, #xA, #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF); they only occur inside strings, where
 * their escapes mean the same.
 */
export function sqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
