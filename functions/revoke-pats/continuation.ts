/**
 * Continuations (CONTRACT sections 4 and 8): a record's tokens that the budget shows cannot start before the
 * deadline are late, not failed. They go, as a new request, to the record's own queue, delayed until the budget
 * should allow them, and the record is acknowledged: waiting never uses up its receives. A chain is bounded (24 hours
 * from the first request, 500 continuations), since the function's own queue loop defeats Lambda's recursive-loop
 * detection.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SourceQueue } from '../lib/config.js';
import type { RequestMetadata } from './request.js';

/** A chain older than this, from its `firstRequestedAt`, is not continued: its tokens are dead-lettered. */
export const MAX_CONTINUATION_AGE_MS = 24 * 60 * 60 * 1000;
/** A chain is not continued past this many continuations. */
export const MAX_CONTINUATIONS = 500;
/** SQS' limits of `DelaySeconds`, as the contract bounds a continuation's delay. */
export const MIN_DELAY_SECONDS = 1;
export const MAX_DELAY_SECONDS = 900;

/** What the function knows of a record's delivery (SQS attributes). */
export interface Delivery {
  messageId: string;
  /** `eventSourceARN`: `arn:aws:sqs:<region>:<account>:<queue>`. */
  eventSourceArn?: string;
  /** `receiptHandle`: proves the record came from its queue (source-proof.ts); never logged. */
  receiptHandle?: string;
  /** `SentTimestamp`, epoch ms. */
  sentAt?: number;
  /** `ApproximateFirstReceiveTimestamp`, epoch ms. */
  firstReceivedAt?: number;
  /** `SenderId`: who sent the message (`AROA…:session` for a role). */
  senderId?: string;
}

/** The queue of `SOURCE_QUEUE_URLS` a record came from, by the account and name of its `eventSourceARN`. */
export function queueOf(delivery: Delivery, queues: readonly SourceQueue[]): SourceQueue | undefined {
  const parts = delivery.eventSourceArn?.split(':');
  if (parts?.length !== 6 || parts[0] !== 'arn' || parts[2] !== 'sqs') return undefined;
  return queues.find((queue) => queue.account === parts[4] && queue.name === parts[5]);
}

/**
 * Whether the record was sent by the function's own role (`SenderId` is `<role unique ID>:<session>`): only then are
 * its continuation fields (chain identity, bounds, attribution) believed. From anyone else they could suppress a
 * revocation (`continuationOf` naming a request whose tokens this container switched off) or end a chain early.
 */
export function sentByOwnRole(delivery: Delivery, ownRoleId: string | undefined): boolean {
  if (ownRoleId === undefined || delivery.senderId === undefined) return false;
  return delivery.senderId === ownRoleId || delivery.senderId.startsWith(`${ownRoleId}:`);
}

/** The request fields only a continuation carries (CONTRACT section 4). */
export const CONTINUATION_KEYS = [
  'continuationOf',
  'firstRequestedAt',
  'continuationCount',
  'originalSenderId',
  'originalSentAt',
  'receivedAs',
] as const;

/** The continuation to send, or why the chain ends here. */
export type ContinuationPlan =
  | { send: true; body: Record<string, unknown>; delaySeconds: number }
  | { send: false; why: string };

/**
 * Builds the continuation of a record for `tokenIds`.
 *
 * @param tokenIds the tokens to continue: IDs only, a leaked access token travels as the ID it named
 * @param receivedAs token ID → `jwt sha256:<hex>` for those of `tokenIds` received as a leaked access token
 * @param metadata the request's metadata (continuation fields included when it is one)
 * @param delivery the record's delivery attributes
 * @param ownRoleId the unique ID of the function's role (`AROA…`): continuation attribution is trusted only from
 *   records it sent
 * @param delayMs how long until the budget should allow the tokens, ms
 * @param nowEpochMs the time, epoch ms (for the 24-hour bound)
 */
export function planContinuation(
  tokenIds: readonly string[],
  receivedAs: Readonly<Record<string, string>>,
  metadata: RequestMetadata,
  delivery: Delivery,
  ownRoleId: string | undefined,
  delayMs: number,
  nowEpochMs: number,
): ContinuationPlan {
  const sentAt = delivery.sentAt ?? nowEpochMs;
  const fromUs = sentByOwnRole(delivery, ownRoleId);
  // Never later than this record was sent: a claimed future start cannot stretch the 24-hour bound.
  const claimed = metadata.firstRequestedAt === undefined ? undefined : Date.parse(metadata.firstRequestedAt);
  const firstRequestedAt = Math.min(claimed ?? delivery.firstReceivedAt ?? sentAt, sentAt);
  const continuationCount = (metadata.continuationCount ?? 0) + 1;
  if (nowEpochMs - firstRequestedAt > MAX_CONTINUATION_AGE_MS) {
    return {
      send: false,
      why: `not continued: first requested ${new Date(firstRequestedAt).toISOString()}, over 24 hours ago`,
    };
  }
  if (continuationCount > MAX_CONTINUATIONS) {
    return { send: false, why: `not continued: ${MAX_CONTINUATIONS} continuations of this request already` };
  }
  const trusted = fromUs && metadata.originalSenderId !== undefined && metadata.originalSentAt !== undefined;
  const body = {
    tokenIds,
    ...(Object.keys(receivedAs).length === 0 ? {} : { receivedAs }),
    ...pickDefined(metadata, ['incidentId', 'reason', 'requestedBy']),
    ...(metadata.dryRun ? { dryRun: true } : {}),
    continuationOf: metadata.continuationOf ?? delivery.messageId,
    firstRequestedAt: new Date(firstRequestedAt).toISOString(),
    continuationCount,
    ...(trusted
      ? { originalSenderId: metadata.originalSenderId, originalSentAt: metadata.originalSentAt }
      : {
          ...(delivery.senderId === undefined ? {} : { originalSenderId: delivery.senderId }),
          originalSentAt: new Date(sentAt).toISOString(),
        }),
  };
  // Whole seconds (SQS' unit), rounded down: the continuation arrives up to a second before the budget has room, and
  // its invocation waits out the rest (a token's requests are reserved before it starts). Rounded up, each hop of a
  // chain would leave up to a second of the budget unused.
  const seconds = Math.floor(delayMs / 1000 + 1e-6); // a float's noise below a whole second is no second less
  return { send: true, body, delaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(MIN_DELAY_SECONDS, seconds)) };
}

/**
 * Sends one continuation; `signal` aborts it (the invocation deadline).
 *
 * @returns the new message's ID
 * @throws when it was not accepted: the caller retries the record instead
 */
export type ContinuationSender = (
  queueUrl: string,
  body: Record<string, unknown>,
  delaySeconds: number,
  signal?: AbortSignal,
) => Promise<string>;

/** A sender to SQS. */
export function sqsContinuationSender(client: SQSClient): ContinuationSender {
  return async (queueUrl, body, delaySeconds, signal) => {
    const answer = await client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body), DelaySeconds: delaySeconds }),
      signal ? { abortSignal: signal } : {},
    );
    return answer.MessageId ?? '(no message ID returned)';
  };
}

function pickDefined<K extends keyof RequestMetadata>(source: RequestMetadata, keys: K[]): Partial<RequestMetadata> {
  const out: Partial<RequestMetadata> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
