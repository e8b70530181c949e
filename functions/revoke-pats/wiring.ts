/**
 * The Middy wiring of the handler (CONTRACT section 1): SQS batch in, `{ batchItemFailures }` out, naming exactly
 * the records SQS must deliver again. Separate from handler.ts so tools and tests can build a handler from their
 * own configuration without the module-level one validating the process environment.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Container } from './container.js';
import type { Delivery } from './continuation.js';
import { revokeBatch } from './revoke-batch.js';

/** Wraps a container into the Lambda handler. Metrics are published by the batch's audit sink at its end. */
export function createHandler({ telemetry, deps }: Container) {
  // timeoutEarlyInMillis 0: Middy's early timeout throws instead of returning a partial batch response.
  return middy<SQSEvent, SQSBatchResponse>({ timeoutEarlyInMillis: 0 })
    .use(injectLambdaContext([telemetry.logger, telemetry.audit], { resetKeys: true }))
    .handler(async (event, context) => {
      // A direct invoke can hand over anything: what is not a list of record objects is no record of ours.
      const given: unknown[] = Array.isArray(event?.Records) ? event.Records : [];
      const malformed = given.filter((r) => typeof r !== 'object' || r === null).length;
      if (malformed > 0 || !Array.isArray(event?.Records)) {
        telemetry.logger.error('malformed SQS event: what is not a record object is skipped', { malformed });
      }
      const records = (given.filter((r) => typeof r === 'object' && r !== null) as SQSRecord[]).map((r) => ({
        messageId: String(r.messageId),
        body: typeof r.body === 'string' ? r.body : '',
        receiveCount: Number(r.attributes?.ApproximateReceiveCount ?? 1),
        ...delivery(r),
        ...(r.messageAttributes?.contentEncoding?.stringValue
          ? { contentEncoding: r.messageAttributes.contentEncoding.stringValue }
          : {}),
      }));
      const { retry } = await revokeBatch(records, deps, { remainingMs: context.getRemainingTimeInMillis() });
      return { batchItemFailures: retry.map((itemIdentifier) => ({ itemIdentifier })) };
    });
}

/** What a record says of its delivery: its queue and receipt handle, when it was sent and first received, by whom. */
function delivery(record: SQSRecord): Omit<Delivery, 'messageId'> {
  const epoch = (value: string | undefined) => (value && /^\d+$/.test(value) ? Number(value) : undefined);
  const sentAt = epoch(record.attributes?.SentTimestamp);
  const firstReceivedAt = epoch(record.attributes?.ApproximateFirstReceiveTimestamp);
  return {
    ...(typeof record.eventSourceARN === 'string' ? { eventSourceArn: record.eventSourceARN } : {}),
    ...(typeof record.receiptHandle === 'string' ? { receiptHandle: record.receiptHandle } : {}),
    ...(sentAt === undefined ? {} : { sentAt }),
    ...(firstReceivedAt === undefined ? {} : { firstReceivedAt }),
    ...(typeof record.attributes?.SenderId === 'string' ? { senderId: record.attributes.SenderId } : {}),
  };
}
