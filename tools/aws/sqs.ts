/**
 * A loopback SQS (`local-aws-sqs`, which speaks the current SDK's JSON protocol) with a dead-letter queue, and a
 * reader for what reached it. The function reaches it because the SQS client sends to the queue URL's own host.
 */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSqsServer } from 'local-aws-sqs';
import { sqsEventFromMessages } from './lambda-events.js';

/** A message read back from a queue. */
export interface ReceivedMessage {
  body: unknown;
  attributes: Record<string, string>;
  /** Not compared in tests (enumerable: false): the SQS message ID and the raw body. */
  readonly messageId?: string;
  readonly raw?: string;
}

/** A running loopback SQS with one dead-letter queue. */
export class LoopbackSqs {
  /** The DLQ's URL, for `DEAD_LETTER_QUEUE_URL`. */
  readonly deadLetterQueueUrl: string;
  /** A client bound to this server (dummy credentials). */
  readonly client: SQSClient;

  /** @internal use {@link startSqs} */
  constructor(
    private readonly server: Server,
    queueName: string,
  ) {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.deadLetterQueueUrl = `${endpoint}/123456789012/${queueName}`;
    this.client = new SQSClient({
      endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  }

  /** Receives and deletes every message now in the DLQ, bodies parsed as JSON. */
  drainDeadLetters(): Promise<ReceivedMessage[]> {
    return this.drain(this.deadLetterQueueUrl);
  }

  /** Receives and deletes every message now in a queue of this server, bodies parsed as JSON. */
  async drain(queueUrl: string): Promise<ReceivedMessage[]> {
    const out: ReceivedMessage[] = [];
    for (;;) {
      const { Messages = [] } = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 0,
        }),
      );
      if (Messages.length === 0) return out;
      for (const message of Messages) {
        const received: ReceivedMessage = {
          body: JSON.parse(message.Body ?? 'null'),
          attributes: Object.fromEntries(
            Object.entries(message.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
          ),
        };
        Object.defineProperties(received, {
          messageId: { value: message.MessageId, enumerable: false },
          raw: { value: message.Body, enumerable: false },
        });
        out.push(received);
        await this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      }
    }
  }

  /** Creates a queue (or finds it) and returns its URL. */
  async createQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
    const { QueueUrl } = await this.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return QueueUrl as string;
  }

  /**
   * Receives up to `max` messages of a queue as Lambda's event source would hand them to the function: real receipt
   * handles, attributes and `eventSourceARN`. They stay in flight until their visibility timeout.
   */
  async receiveEvent(queueUrl: string, max = 10, waitSeconds = 0): Promise<SQSEvent> {
    const { Messages = [] } = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        MessageAttributeNames: ['All'],
        // The older name is the one local-aws-sqs reads; SQS accepts both.
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        WaitTimeSeconds: waitSeconds,
      }),
    );
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    return sqsEventFromMessages(Messages, Attributes?.QueueArn as string);
  }

  /** A queue's message counts: visible, in flight and delayed. */
  async depth(queueUrl: string): Promise<{ visible: number; inFlight: number; delayed: number }> {
    const { Attributes = {} } = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  /** Stops the server. */
  async close(): Promise<void> {
    this.client.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Starts a loopback SQS on 127.0.0.1 (a free port) with a dead-letter queue. */
export async function startSqs(queueName = 'pat-revoker-dlq'): Promise<LoopbackSqs> {
  const server = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    region: 'eu-west-1',
    queues: [{ QueueName: queueName }],
    emulateQueueCreationLifecycle: false,
  });
  return new LoopbackSqs(server, queueName);
}
