/** The one factory of SQS events and Lambda contexts: tests, the demo and the benchmark build events here. */
import type { Message } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { randomUUID } from 'node:crypto';

/** A record to put in an event: a body (objects are JSON-encoded) and optional delivery details. */
export interface RecordSpec {
  body: unknown;
  messageId?: string;
  receiveCount?: number;
  /** String message attributes, e.g. `{ contentEncoding: 'base64' }`. */
  attributes?: Record<string, string>;
}

/** Builds an SQS event as Lambda's event source mapping delivers it. */
export function sqsEvent(records: RecordSpec[]): SQSEvent {
  return {
    Records: records.map(
      (spec): SQSRecord => ({
        messageId: spec.messageId ?? randomUUID(),
        receiptHandle: `rh-${randomUUID()}`,
        body: typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body),
        attributes: {
          ApproximateReceiveCount: String(spec.receiveCount ?? 1),
          SentTimestamp: String(Date.now()),
          SenderId: 'AROAEXAMPLE:playbook',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: Object.fromEntries(
          Object.entries(spec.attributes ?? {}).map(([name, value]) => [
            name,
            { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' },
          ]),
        ),
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:pat-revoker-requests',
        awsRegion: 'eu-west-1',
      }),
    ),
  };
}

/** Messages received from a queue, as the event source mapping hands them to the function. */
export function sqsEventFromMessages(messages: Message[], queueArn: string): SQSEvent {
  const region = queueArn.split(':')[3] ?? 'eu-west-1';
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.MessageId as string,
        receiptHandle: message.ReceiptHandle as string,
        body: message.Body ?? '',
        attributes: message.Attributes as unknown as SQSRecord['attributes'],
        messageAttributes: Object.fromEntries(
          Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
            name,
            {
              dataType: value.DataType ?? 'String',
              ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
              stringListValues: [],
              binaryListValues: [],
            },
          ]),
        ),
        md5OfBody: message.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: region,
      }),
    ),
  };
}

/** A Lambda context whose deadline is `remainingMs` from now. */
export function lambdaContext(remainingMs = 60_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'pat-revoker',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:pat-revoker',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/pat-revoker',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
