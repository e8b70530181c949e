/**
 * The loopback SQS behaves as SQS where the function depends on it (tools/aws/sqs.ts): a visibility change is not a
 * receive (local-aws-sqs counted it, patched at install by patch-package), and each message's SenderId is its sender's
 * identity, kept when the redrive policy moves it to the DLQ (local-aws-sqs gave every message one fixed SenderId).
 */
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LoopbackSqs, startSqs } from '../../tools/aws/sqs.js';

/** local-aws-sqs's fixed SenderId for every message, before the correction. */
const FIXED_SENDER_ID = 'ABCDEFGHI1JKLMNOPQ23R';
const PLAYBOOK = 'AROAPLAYBOOKROLE12345:incident-playbook';
const FUNCTION = 'AROAFUNCTIONROLE12345:pat-revoker';
const OPERATOR = 'AIDAOPERATORUSER12345';

let sqs: LoopbackSqs;
beforeAll(async () => {
  sqs = await startSqs();
});
afterAll(async () => sqs.close());

let queues = 0;
/** A fresh queue with its own DLQ: after `maxReceiveCount` receives a message moves there at visibility expiry. */
async function queueWithDlq(maxReceiveCount: number) {
  queues += 1;
  const dlqUrl = await sqs.createQueue(`loopback-dlq-${queues}`);
  const url = await sqs.createQueue(`loopback-requests-${queues}`, {
    VisibilityTimeout: '1',
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: `arn:aws:sqs:eu-west-1:123456789012:loopback-dlq-${queues}`,
      maxReceiveCount,
    }),
  });
  return { url, dlqUrl };
}

/**
 * One ReceiveMessage of up to `max` messages with every attribute, long-polling `waitSeconds` (local-aws-sqs answers a
 * long poll only once it has `max` messages or the wait is over: `max` 1 to wait for one message).
 */
async function receive(url: string, waitSeconds = 0, max = 10): Promise<Message[]> {
  const { Messages = [] } = await sqs.client.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: max,
      AttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
      WaitTimeSeconds: waitSeconds,
    }),
  );
  return Messages;
}

describe('a visibility change is not a receive', () => {
  it('a message whose visibility is changed on each receive reaches the DLQ after maxReceiveCount receives, not half', async () => {
    const { url, dlqUrl } = await queueWithDlq(2);
    const { MessageId } = await sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{}' }));

    // Each delivery: received, then its visibility set to the queue's own timeout (the function's source proof,
    // ChangeMessageVisibilityBatch with the record's handle), then left to expire (a retried record).
    const counts: string[] = [];
    for (let delivery = 0; delivery < 3; delivery++) {
      const [message] = await receive(url, 2, 1);
      if (message === undefined) break;
      counts.push(message.Attributes?.ApproximateReceiveCount as string);
      const handle = message.ReceiptHandle as string;
      if (delivery === 0) {
        const { Failed = [] } = await sqs.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: [{ Id: '0', ReceiptHandle: handle, VisibilityTimeout: 1 }],
          }),
        );
        expect(Failed).toEqual([]);
      } else {
        await sqs.client.send(
          new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: 1 }),
        );
      }
    }

    expect(counts).toEqual(['1', '2']); // two real receives; with visibility changes counted, only ['1']
    const dead = await receive(dlqUrl, 3, 1);
    expect(dead.map((m) => m.MessageId)).toEqual([MessageId]);
    expect(await sqs.depth(url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('a visibility change keeps the first receive timestamp', async () => {
    const { url } = await queueWithDlq(5);
    await sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{}' }));
    const [first] = await receive(url);
    await sleep(20);
    await sqs.client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first!.ReceiptHandle, VisibilityTimeout: 0 }),
    );
    const [again] = await receive(url, 2, 1);
    expect(again!.Attributes).toMatchObject({
      ApproximateReceiveCount: '2',
      ApproximateFirstReceiveTimestamp: first!.Attributes!.ApproximateFirstReceiveTimestamp,
    });
  });
});

describe("each message's SenderId is its sender's identity", () => {
  it('two senders give two SenderIds, and a message moved to the DLQ keeps its sender', async () => {
    const { url, dlqUrl } = await queueWithDlq(1);
    const playbook = sqs.clientAs(PLAYBOOK);
    const fn = sqs.clientAs(FUNCTION);
    const single = await playbook.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"playbook"' }));
    const batch = await fn.send(
      new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: '0', MessageBody: '"function"' }] }),
    );
    const sent = { [single.MessageId as string]: PLAYBOOK, [batch.Successful?.[0]?.MessageId as string]: FUNCTION };

    const received = await receive(url);
    expect(Object.fromEntries(received.map((m) => [m.MessageId, m.Attributes?.SenderId]))).toEqual(sent);

    // Received once, maxReceiveCount 1: both move to the DLQ at visibility expiry, with their IDs and senders.
    const dead: Message[] = [];
    for (let tries = 0; dead.length < 2 && tries < 5; tries++)
      dead.push(...(await receive(dlqUrl, 2, 2 - dead.length)));
    expect(Object.fromEntries(dead.map((m) => [m.MessageId, m.Attributes?.SenderId]))).toEqual(sent);
    expect(Object.values(sent)).not.toContain(FIXED_SENDER_ID);
  });

  it('an unregistered access key is a sender of its own; a registered one sends as its identity', async () => {
    const { url } = await queueWithDlq(5);
    const signedWith = (accessKeyId: string) =>
      new SQSClient({
        endpoint: new URL(url).origin,
        region: 'eu-west-1',
        credentials: { accessKeyId, secretAccessKey: 'x' },
      });
    const [unregistered, registered] = [signedWith('AKIAUNREGISTERED0001'), signedWith('AKIAREGISTERED000001')];
    sqs.registerSender('AKIAREGISTERED000001', OPERATOR);
    await unregistered.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"unregistered"' }));
    await registered.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"registered"' }));
    await sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"default client"' }));
    unregistered.destroy();
    registered.destroy();

    const senders = Object.fromEntries((await receive(url)).map((m) => [m.Body, m.Attributes?.SenderId]));
    expect(senders).toEqual({
      '"unregistered"': sqs.senderIdOf('AKIAUNREGISTERED0001'),
      '"registered"': OPERATOR,
      '"default client"': sqs.senderIdOf('test'),
    });
    expect(sqs.senderIdOf('AKIAUNREGISTERED0001')).toMatch(/^AIDA[0-9A-F]{17}$/);
    expect(sqs.senderIdOf('test')).toMatch(/^AIDA[0-9A-F]{17}$/);
    expect(sqs.senderIdOf('test')).not.toBe(sqs.senderIdOf('AKIAUNREGISTERED0001'));
    const credentials = sqs.credentialsFor(FUNCTION);
    expect(credentials.accessKeyId).toMatch(/^AKIA[0-9A-F]{16}$/);
    expect(sqs.senderIdOf(credentials.accessKeyId)).toBe(FUNCTION);
  });

  it('a message move task (an operator redrive) gives the moved message a new ID, sent by whoever started it', async () => {
    const { url, dlqUrl } = await queueWithDlq(1);
    await sqs.clientAs(FUNCTION).send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"continuation"' }));
    const [first] = await receive(url);
    expect(first!.Attributes?.SenderId).toBe(FUNCTION);
    const [dead] = await receive(dlqUrl, 3, 1);
    expect(dead).toMatchObject({ MessageId: first!.MessageId, Attributes: { SenderId: FUNCTION } });
    await sqs.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: dlqUrl,
        ReceiptHandle: dead!.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );

    await sqs
      .clientAs(OPERATOR)
      .send(
        new StartMessageMoveTaskCommand({ SourceArn: `arn:aws:sqs:eu-west-1:123456789012:loopback-dlq-${queues}` }),
      );
    const [moved] = await receive(url, 5, 1);
    expect(moved!.Body).toBe('"continuation"');
    expect(moved!.MessageId).not.toBe(first!.MessageId);
    expect(moved!.Attributes?.SenderId).toBe(OPERATOR);
  });
});

describe('a message in flight is not counted as available', () => {
  it('ApproximateNumberOfMessages counts only what a receive could return, as SQS does', async () => {
    const { url } = await queueWithDlq(5);
    await sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"one"' }));
    await sqs.client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"two"' }));
    await receive(url, 0, 1);
    expect(await sqs.depth(url)).toEqual({ visible: 1, inFlight: 1, delayed: 0 });
  });
});
