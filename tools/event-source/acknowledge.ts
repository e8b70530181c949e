/**
 * Deletes the records an invocation acknowledged, as Lambda does after a successful or partially successful batch
 * ("When your function successfully processes a batch, Lambda deletes its messages from the queue",
 * https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). Failed records are left alone: no visibility change,
 * they come back when their visibility timeout ends.
 */
import { DeleteMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** A record to delete: its message ID and the receipt handle of the receive that delivered it. */
export interface Acknowledged {
  messageId: string;
  receiptHandle: string;
}

/** What the deletes did. */
export interface DeleteResult {
  /** Message IDs SQS reported deleted. */
  deleted: string[];
  /** Message IDs SQS did not delete, each with SQS's code and message (or the request's error). */
  failed: Array<{ messageId: string; reason: string }>;
}

/** DeleteMessageBatch's limit on entries. */
const DELETE_MAX = 10;

/**
 * Deletes the records with DeleteMessageBatch, ten at a time. Never throws: a failed request fails its entries.
 */
export async function deleteRecords(
  client: SQSClient,
  queueUrl: string,
  records: readonly Acknowledged[],
): Promise<DeleteResult> {
  const result: DeleteResult = { deleted: [], failed: [] };
  for (let start = 0; start < records.length; start += DELETE_MAX) {
    const chunk = records.slice(start, start + DELETE_MAX);
    try {
      const { Successful = [], Failed = [] } = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
      for (const ok of Successful) result.deleted.push(chunk[Number(ok.Id)]?.messageId ?? `?${ok.Id}`);
      for (const no of Failed) {
        const messageId = chunk[Number(no.Id)]?.messageId ?? `?${no.Id}`;
        result.failed.push({ messageId, reason: `${no.Code ?? 'error'}: ${no.Message ?? ''}` });
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      for (const r of chunk) result.failed.push({ messageId: r.messageId, reason });
    }
  }
  return result;
}
