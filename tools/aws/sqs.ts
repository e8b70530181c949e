/**
 * A loopback SQS (`local-aws-sqs`, which speaks the current SDK's JSON protocol) with a dead-letter queue, and a
 * reader for what reached it. The function reaches it because the SQS client sends to the queue URL's own host.
 *
 * Two corrections make it behave as SQS where this project depends on it:
 * - a visibility change is not a receive: only ReceiveMessage adds to `ApproximateReceiveCount`, so the redrive policy
 *   moves a record after `maxReceiveCount` real receives even when the function changes its visibility on each one
 *   (its source proof does); local-aws-sqs counted both. A patch applied by `patch-package` at install
 *   (`patches/local-aws-sqs+2.0.2.patch`): the count lives in a private method no wrapper can reach.
 * - each message's `SenderId` is its sender's identity, by the access key that signed the send
 *   ({@link LoopbackSqs.registerSender}, {@link LoopbackSqs.clientAs}; the rules in `sqs-senders.ts`); local-aws-sqs
 *   gave every message one fixed `SenderId`.
 */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequestHandler } from 'local-aws-sqs';
import { sqsEventFromMessages } from './lambda-events.js';
import { SenderIds } from './sqs-senders.js';

/** The account of the loopback queues (their URLs and ARNs). */
const ACCOUNT_ID = '123456789012';
const REGION = 'eu-west-1';

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
  /** A client bound to this server (dummy credentials: access key `test`, an unregistered sender of its own). */
  readonly client: SQSClient;
  private readonly endpoint: string;
  private readonly clients: SQSClient[] = [];

  /** @internal use {@link startSqs} */
  constructor(
    private readonly server: Server,
    queueName: string,
    private readonly senders: SenderIds,
  ) {
    this.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.deadLetterQueueUrl = `${this.endpoint}/${ACCOUNT_ID}/${queueName}`;
    this.client = new SQSClient({
      endpoint: this.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  }

  /**
   * Messages sent with requests signed by `accessKeyId` carry `senderId` as their `SenderId` from now on: a role
   * session is `<role unique ID>:<session name>` (`AROA…:name`), an IAM user its ID (`AIDA…`). An unregistered key
   * sends as an IAM user of its own (`AIDA` and 17 characters derived from the key), an unsigned request as the account.
   */
  registerSender(accessKeyId: string, senderId: string): void {
    this.senders.register(accessKeyId, senderId);
  }

  /**
   * Credentials whose sends carry `senderId` (the access key is derived from it and registered): for a process that
   * sends as that identity, e.g. the function's `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
   */
  credentialsFor(senderId: string): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: this.senders.accessKeyFor(senderId), secretAccessKey: 'test' };
  }

  /** A client bound to this server whose sends carry `senderId` (closed with the server). */
  clientAs(senderId: string): SQSClient {
    const client = new SQSClient({
      endpoint: this.endpoint,
      region: REGION,
      credentials: this.credentialsFor(senderId),
    });
    this.clients.push(client);
    return client;
  }

  /** The `SenderId` of messages sent with `accessKeyId`. */
  senderIdOf(accessKeyId: string): string {
    return this.senders.of(accessKeyId);
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

  /**
   * Calls `observer` with the body and `SenderId` of every message a receive hands out, whoever receives it (the test
   * suite's leak scan reads what the function sent, dead letters and continuations, this way).
   */
  observeReceived(observer: (body: string, senderId: string) => void): void {
    this.senders.onReceived = observer;
  }

  /**
   * Calls `observer` once each successful `SendMessage`, `SendMessageBatch`, `ReceiveMessage` or
   * `StartMessageMoveTask` has been answered, with the action and the sender's `SenderId`: a test picks a moment
   * from the server's side by it (e.g. kill the container that has just sent a continuation).
   */
  observeAnswered(observer: ((action: string, senderId: string) => void) | undefined): void {
    this.senders.onAnswered = observer;
  }

  /** Stops the server. */
  async close(): Promise<void> {
    this.client.destroy();
    for (const client of this.clients) client.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Starts a loopback SQS on 127.0.0.1 (a free port) with a dead-letter queue. */
export async function startSqs(queueName = 'pat-revoker-dlq'): Promise<LoopbackSqs> {
  const { service, requestHandler } = createRequestHandler({
    port: 0,
    hostname: '127.0.0.1',
    region: REGION,
    accountId: ACCOUNT_ID,
    queues: [{ QueueName: queueName }],
    emulateQueueCreationLifecycle: false,
  });
  const senders = new SenderIds(ACCOUNT_ID);
  const server = createServer((req, res) => void senders.handle(req, res, requestHandler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // What createSqsServer does once listening: queue URLs name the real port.
  service.PORT = (server.address() as AddressInfo).port;
  return new LoopbackSqs(server, queueName, senders);
}
