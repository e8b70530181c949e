/**
 * Permanent failures → the dead-letter queue (CONTRACT section 6), with `@aws-sdk/client-sqs`.
 *
 * The body is itself a valid revocation request holding only the failed token IDs, so once the cause is fixed the
 * message can be redriven unchanged; `failures` says what happened to each, and raw values that are not token IDs
 * appear only there.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Outcome } from './outcomes.js';
import type { RevocationRequest } from './request.js';

/** One failed entry of a record. */
export interface DeadLetterFailure {
  /** The token ID, or the raw value as received when it was not a token ID (`null` when the body had none). */
  tokenId: unknown;
  outcome: Outcome;
  detail: string;
}

/** The dead-letter message body (CONTRACT section 6). */
export interface DeadLetterMessage {
  /** Failed valid token IDs only: redriving the message retries exactly these. */
  tokenIds: string[];
  incidentId?: string;
  reason?: string;
  requestedBy?: string;
  dryRun?: boolean;
  failures: DeadLetterFailure[];
  /** `messageId` of the record this came from. */
  sourceMessageId: string;
  /** The original body, when it could not be parsed as a request (for the human who fixes it). */
  body?: string;
}

/** Sends one dead-letter message. @throws when it was not accepted: the caller must then retry the record. */
export type DeadLetterSender = (message: DeadLetterMessage) => Promise<void>;

/**
 * Builds the dead-letter message of a record.
 *
 * @param sourceMessageId the record's `messageId`
 * @param request the parsed request, or `undefined` when the body itself was refused
 * @param failures the record's permanent failures, in request order
 * @param originalBody the record body, kept only when `request` is `undefined`
 */
export function buildDeadLetter(
  sourceMessageId: string,
  request: RevocationRequest | undefined,
  failures: DeadLetterFailure[],
  originalBody?: string,
): DeadLetterMessage {
  const tokenIds = failures.filter((f) => f.outcome !== 'invalid').map((f) => f.tokenId as string);
  return {
    tokenIds,
    ...(request?.incidentId === undefined ? {} : { incidentId: request.incidentId }),
    ...(request?.reason === undefined ? {} : { reason: request.reason }),
    ...(request?.requestedBy === undefined ? {} : { requestedBy: request.requestedBy }),
    ...(request?.dryRun ? { dryRun: true } : {}),
    failures,
    sourceMessageId,
    ...(request === undefined && originalBody !== undefined ? { body: originalBody } : {}),
  };
}

/** The `outcome` message attribute: the outcome all failures share, or `mixed`. */
export function sharedOutcome(failures: DeadLetterFailure[]): string {
  const outcomes = new Set(failures.map((f) => f.outcome));
  return outcomes.size === 1 ? [...outcomes][0]! : 'mixed';
}

/**
 * A sender to an SQS queue. The SQS client sends to the queue URL's own host, which is how tests and the demo
 * reach a loopback SQS.
 */
export function sqsDeadLetterSender(client: SQSClient, queueUrl: string): DeadLetterSender {
  return async (message) => {
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message),
        MessageAttributes: {
          outcome: { DataType: 'String', StringValue: sharedOutcome(message.failures) },
          sourceMessageId: { DataType: 'String', StringValue: message.sourceMessageId },
        },
      }),
    );
  };
}
