/**
 * CLI error paths with a mocked SQS client (the happy paths run against local-aws-sqs in
 * test/integration/cli.test.ts): partial failures name the token IDs not sent, redrive passes its options through.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { runCli } from '../../tools/cli/cli.js';

const sqsMock = mockClient(SQSClient);
afterEach(() => {
  sqsMock.reset();
});

const URL_ = 'https://sqs.eu-west-1.amazonaws.com/333333333333/pat-revoker-prod-requests';
const id = (n: number) => `to-aaaaa-bbbbb-${String(n).padStart(16, '0')}`;

async function cli(args: string[], stdin = '') {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    args,
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), readStdin: () => stdin },
    {
      sqs: new SQSClient({ region: 'eu-west-1' }),
      cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
    },
  );
  return { code, stdout, stderr };
}

describe('enqueue failures', () => {
  it('a request SQS did not accept: exit 1, and its token IDs are listed to send again', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: 'm-0', MD5OfMessageBody: '' }],
      Failed: [{ Id: '1', Code: 'KMS.ThrottlingException', SenderFault: false }],
    });
    const ids = Array.from({ length: 150 }, (_, i) => id(i));
    const { code, stdout, stderr } = await cli(['enqueue', '--file', '-', '--queue-url', URL_], ids.join('\n'));
    expect(code).toBe(1);
    expect(stdout).toBe('m-0\t100 token ID(s)\n');
    expect(stderr).toContain('a request of 50 token ID(s) was not accepted: KMS.ThrottlingException');
    expect(stderr).toContain(`NOT queued (50), send them again:\n${ids.slice(100).join('\n')}\n`);
  });

  it('a failed SendMessageBatch call: exit 1, everything from it on is listed', async () => {
    sqsMock.on(SendMessageBatchCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    const { code, stderr } = await cli(['enqueue', id(1), id(2), '--queue-url', URL_]);
    expect(code).toBe(1);
    expect(stderr).toContain('SendMessageBatch failed: AccessDenied: denied');
    expect(stderr).toContain(`NOT queued (2), send them again:\n${id(1)}\n${id(2)}\n`);
  });

  it('cuts metadata to what the function keeps, and defaults an empty --requested-by', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [{ Id: '0', MessageId: 'm', MD5OfMessageBody: '' }], Failed: [] });
    await cli(['enqueue', id(1), '--reason', 'r'.repeat(5000), '--requested-by', '', '--queue-url', URL_]);
    const body = JSON.parse(sqsMock.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries![0]!.MessageBody!);
    expect(body.reason).toHaveLength(1000);
    expect(body.requestedBy).toMatch(/^cli:.+/);
  });

  it('a file that cannot be read is bad input: exit 2, nothing sent', async () => {
    const { code, stderr } = await cli(['enqueue', '--file', '/nonexistent/ids.txt', '--queue-url', URL_]);
    expect(code).toBe(2);
    expect(stderr).toContain('cannot read --file /nonexistent/ids.txt: ENOENT');
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toEqual([]);
  });

  it('--env builds the queue URL from infra/environments.ts', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [{ Id: '0', MessageId: 'm', MD5OfMessageBody: '' }], Failed: [] });
    expect((await cli(['enqueue', id(1), '--env', 'prod'])).code).toBe(0);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.QueueUrl).toBe(URL_);
  });
});

describe('redrive', () => {
  const arn = (name: string) => `arn:aws:sqs:eu-west-1:333333333333:${name}`;

  it('moves from <queue>-dlq to the queue at the given rate; a FAILED task exits 1', async () => {
    sqsMock.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => ({
      Attributes: { QueueArn: arn(input.QueueUrl.split('/').pop()!) },
    }));
    sqsMock.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'task-1' });
    sqsMock
      .on(ListMessageMoveTasksCommand)
      .resolves({ Results: [{ Status: 'FAILED', FailureReason: 'AccessDenied' }] });
    const { code, stdout } = await cli(['redrive', '--rate', '25', '--queue-url', URL_]);
    expect(code).toBe(1);
    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand)[0]!.args[0].input).toEqual({
      SourceArn: arn('pat-revoker-prod-requests-dlq'),
      DestinationArn: arn('pat-revoker-prod-requests'),
      MaxNumberOfMessagesPerSecond: 25,
    });
    expect(stdout).toContain('move task task-1: FAILED');
  });

  it('refuses a rate over 500', async () => {
    expect((await cli(['redrive', '--rate', '501', '--queue-url', URL_])).code).toBe(2);
  });
});
