/**
 * The operator CLI against the ways it was broken: a prod queue named so that the prod check missed it, a report lost
 * to an unwritable resend file, a secret pasted into the metadata echoed and sent, a 5xx reported as "not queued",
 * JSON cut by the line cap, and a redrive whose report was lost when following its task failed.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type DfnsSandbox, startSandbox } from '../../tools/sandbox/sandbox.js';
import { type CliWorld, startCliWorld } from '../support/cli-world.js';

let world: CliWorld;
let sandbox: DfnsSandbox;
let dir: string;
beforeAll(async () => {
  [world, sandbox] = await Promise.all([startCliWorld(), startSandbox()]);
  dir = mkdtempSync(join(tmpdir(), 'pat-revoker-breakers-'));
});
afterAll(async () => {
  await Promise.all([world.close(), sandbox.close()]);
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => world.reset());

const id = (n: number) => `to-aaaaa-bbbbb-${String(n).padStart(16, '0')}`;
const ids = (count: number, from = 0) => Array.from({ length: count }, (_, i) => id(from + i));
const resend = (name: string) => ['--resend-file', join(dir, name)];

describe('prod is recognised however its queue is named', () => {
  it('an ARN naming another region than --region is refused (it reached prod unconfirmed)', async () => {
    // GetQueueUrl finds a queue by name and account in the client's region: this ARN, with --region eu-west-1,
    // resolves to prod's queue, yet its region made the prod check say "not prod".
    await world.sqs.createQueue('pat-revoker-prod-requests');
    const run = await world.cli([
      'enqueue',
      ...ids(3),
      '--confirm-above',
      '2',
      '--queue-url',
      'arn:aws:sqs:eu-central-1:333333333333:pat-revoker-prod-requests',
      '--region',
      'eu-west-1',
      ...resend('region.txt'),
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--region eu-west-1, but the queue is in eu-central-1');
    expect(world.proxy.calls).toEqual([]);
  });

  it('a queue URL whose host names another region than --region is refused too', async () => {
    const run = await world.cli([
      'status',
      '--queue-url',
      'https://sqs.eu-central-1.amazonaws.com/333333333333/pat-revoker-prod-requests',
      '--region',
      'eu-west-1',
    ]);
    expect(run.code).toBe(2);
    expect(world.proxy.calls).toEqual([]);
  });
});

describe('enqueue: the report is never lost or wrong', () => {
  it('an unwritable --resend-file still prints every request and lists the IDs not queued', async () => {
    world.proxy.inject('SendMessageBatch', {
      kind: 'error',
      status: 400,
      type: 'AccessDenied',
      message: 'not allowed',
    });
    const run = await world.cli([
      'enqueue',
      ...ids(2),
      '--resend-file',
      join(dir, 'no-such-dir', 'x.txt'),
      '--output',
      'json',
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.summary).toEqual({ queued: 0, notQueued: 2, answerLost: 0, notConfirmed: 0 });
    expect(report.files).toEqual({});
    expect(run.stderr).toContain(`could not write ${join(dir, 'no-such-dir', 'x.txt')}`);
    for (const tokenId of ids(2)) expect(run.stderr).toContain(tokenId);
  });

  it('the default resend file is named as it is, so the advice to send it again can be followed', async () => {
    world.proxy.inject('SendMessageBatch', { kind: 'error', status: 400, type: 'AccessDenied', message: 'no' });
    // The CLI runs in the checkout (where tsx resolves), so the default file lands there: removed at once.
    const run = await world.cli(['enqueue', id(1)]);
    const named = /not queued, safe to send again: (\S+)\n {2}enqueue --file \1 /.exec(run.stderr)?.[1];
    const written = readdirSync('.').filter((f) => f.startsWith('pat-revoker-not-queued-'));
    for (const file of written) rmSync(file);
    expect(run.code).toBe(1);
    expect(named).toMatch(/^pat-revoker-not-queued-\d{8}T\d{6}Z\.txt$/);
    expect(written).toEqual([named]);
  });

  it('an SQS 5xx answer is "may have been queued", not "not queued, safe to send again"', async () => {
    world.proxy.inject(
      'SendMessageBatch',
      { kind: 'error', status: 500, type: 'InternalError', message: 'We encountered an internal error' },
      1,
    );
    const run = await world.cli(['enqueue', ...ids(2), ...resend('5xx.txt'), '--output', 'json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).summary).toEqual({ queued: 0, notQueued: 0, answerLost: 2, notConfirmed: 0 });
    expect(run.stderr).not.toContain('safe to send again');
  });

  it('--output json stays valid JSON when SQS answers with a huge failure message', async () => {
    world.proxy.inject('SendMessageBatch', {
      kind: 'rewrite',
      rewrite: () => ({
        Successful: [],
        Failed: [{ Id: '0', Code: 'InternalError', Message: 'x'.repeat(100_000), SenderFault: true }],
      }),
    });
    const run = await world.cli(['enqueue', id(1), ...resend('huge.txt'), '--output', 'json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).summary.notQueued).toBe(1);
  });

  it('a secret pasted into --reason is neither echoed by --dry-run nor sent', async () => {
    const { accessToken } = sandbox.addPat();
    const preview = await world.cli([
      'enqueue',
      id(1),
      '--reason',
      `leak ${accessToken}`,
      '--dry-run',
      '--output',
      'json',
    ]);
    expect(preview.code).toBe(0);
    expect(`${preview.stdout}${preview.stderr}`).not.toContain(accessToken.slice(10, 40));
    expect(JSON.parse(preview.stdout).requests[0].body.reason).toMatch(/^leak .*sha256:/);

    const sent = await world.cli(['enqueue', id(1), '--reason', `leak ${accessToken}`]);
    expect(sent.code).toBe(0);
    const [message] = await world.sqs.drain(world.queueUrl);
    expect(JSON.stringify(message?.body)).not.toContain(accessToken.slice(10, 40));
  });
});

describe('redrive: following the task', () => {
  it('SQS failing while the task is followed: the report still names the task, which goes on', async () => {
    await world.sqs.client.send(
      new SendMessageCommand({ QueueUrl: world.dlqUrl, MessageBody: JSON.stringify({ tokenIds: [id(1)] }) }),
    );
    // The first ListMessageMoveTasks is the "already running?" check; the ones after it follow the task.
    let lists = 0;
    world.proxy.inject(
      'ListMessageMoveTasks',
      { kind: 'error', status: 400, type: 'AccessDenied', message: 'no sqs:ListMessageMoveTasks' },
      Number.POSITIVE_INFINITY,
      () => ++lists > 1,
    );
    const run = await world.cli(['redrive', '--output', 'json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.taskHandle).toEqual(expect.any(String));
    expect(report.result).toMatch(/stopped following \(AccessDenied.*\); the task goes on in SQS/);
  });

  it('Ctrl-C while a look at the task hangs: the report is printed, exit 130', async () => {
    await world.sqs.client.send(
      new SendMessageCommand({ QueueUrl: world.dlqUrl, MessageBody: JSON.stringify({ tokenIds: [id(1)] }) }),
    );
    let lists = 0;
    world.proxy.inject('ListMessageMoveTasks', { kind: 'hang' }, Number.POSITIVE_INFINITY, () => ++lists > 1);
    const run = await world.cli(['redrive', '--output', 'json'], { interruptWhen: 'move task started' });
    expect(run.code).toBe(130);
    const report = JSON.parse(run.stdout);
    expect(report.taskHandle).toEqual(expect.any(String));
    expect(report.result).toMatch(/stopped following \(interrupted.*\); the task goes on in SQS/);
  });
});
