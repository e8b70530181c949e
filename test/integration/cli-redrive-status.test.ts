/**
 * `pat-revoker redrive` and `status` as processes against a loopback SQS (through a fault-injecting proxy) and
 * loopback STS and CloudWatch, and the conventions every command keeps.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type CliWorld, startCliWorld } from '../support/cli-world.js';

let world: CliWorld;
beforeAll(async () => {
  world = await startCliWorld();
});
afterAll(async () => world.close());
beforeEach(async () => {
  world.apis.cloudWatch = { kind: 'datapoints', of: () => [] };
  await world.reset();
});

const id = (n: number) => `to-aaaaa-bbbbb-${String(n).padStart(16, '0')}`;

/** Puts dead letters on the DLQ as the function writes them (CONTRACT section 6), one per outcome given. */
async function deadLetters(...outcomes: string[]): Promise<string[]> {
  const sent: string[] = [];
  for (const [i, outcome] of outcomes.entries()) {
    const tokenIds = outcome === 'transient' ? [id(i)] : [id(i)];
    const body =
      outcome === 'transient' ? { tokenIds } : { tokenIds, failures: [{ tokenId: id(i), outcome, detail: 'x' }] };
    const { MessageId } = await world.sqs.client.send(
      new SendMessageCommand({ QueueUrl: world.dlqUrl, MessageBody: JSON.stringify(body) }),
    );
    sent.push(MessageId as string);
  }
  return sent;
}
const depth = (url: string) => world.sqs.depth(url);

describe('redrive', () => {
  it('previews a sample per outcome, calls out what comes straight back, moves, and follows to completion', async () => {
    const sent = await deadLetters('not_found', 'invalid', 'transient', 'protected');
    const run = await world.cli(['redrive']);
    expect(run.stderr).toContain('pat-revoker-requests-dlq: about 4 message(s) to move');
    expect(run.stderr).toMatch(/a sample of 4 \(made visible again at once\), per outcome: .*invalid 1/);
    expect(run.stderr).toContain(
      '3 of the sample hold invalid, protected or not_found tokens, which come straight back unless their request is fixed',
    );
    expect(run.stderr).toContain('redriven messages get new message IDs');
    expect(run.stdout).toBe('move task COMPLETED: 4 of 4 moved, pat-revoker-requests-dlq -> pat-revoker-requests\n');
    expect(run.code).toBe(0);
    const moved = await world.sqs.drain(world.queueUrl);
    expect(moved).toHaveLength(4);
    expect(moved.map((m) => m.messageId).filter((m) => sent.includes(m as string))).toEqual([]);
  });

  it('--dry-run previews only: nothing moves, and the sampled messages are visible again at once', async () => {
    await deadLetters('not_found', 'not_found');
    const run = await world.cli(['redrive', '--dry-run', '--quiet']);
    expect(run.code).toBe(0);
    // The preview is the dry run's result: on stdout, even with --quiet.
    expect(run.stdout).toMatch(/^pat-revoker-requests-dlq: about 2 message\(s\) to move/);
    expect(run.stdout).toMatch(/per outcome: not_found 2\n[\s\S]*dry run: no move task started\n$/);
    expect(world.proxy.calls).not.toContain('StartMessageMoveTask');
    expect(await depth(world.dlqUrl)).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
  });

  it('a task that fails later: exit 1 with its reason, never "started"', async () => {
    await deadLetters('not_found');
    world.proxy.inject('ListMessageMoveTasks', {
      kind: 'rewrite',
      rewrite: (answer) => ({
        Results: (answer.Results ?? []).map((t: Record<string, unknown>) => ({
          ...t,
          Status: 'FAILED',
          FailureReason: 'AWS.SimpleQueueService.KmsAccessDenied',
          TaskHandle: undefined,
        })),
      }),
    });
    const run = await world.cli(['redrive', '--output', 'json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.task).toMatchObject({ status: 'FAILED', failureReason: 'AWS.SimpleQueueService.KmsAccessDenied' });
    expect(report.result).toMatch(/^move task FAILED: .*KmsAccessDenied$/);
  });

  it('reports its own task, not an older one listed beside it', async () => {
    await deadLetters('not_found');
    world.proxy.inject('ListMessageMoveTasks', {
      kind: 'rewrite',
      rewrite: (answer) => ({
        Results: [
          ...(answer.Results ?? []),
          {
            Status: 'CANCELLED',
            SourceArn: world.dlqArn,
            StartedTimestamp: Date.now() - 3_600_000,
            ApproximateNumberOfMessagesMoved: 7,
          },
        ],
      }),
    });
    const run = await world.cli(['redrive']);
    expect(run.stdout).toBe('move task COMPLETED: 1 of 1 moved, pat-revoker-requests-dlq -> pat-revoker-requests\n');
    expect(run.code).toBe(0);
  });

  it('never takes a task listed before its own started for its own, even when its own is not listed yet', async () => {
    await deadLetters('not_found');
    const earlier = {
      Status: 'FAILED',
      SourceArn: world.dlqArn,
      StartedTimestamp: Date.now() - 1_000,
      FailureReason: 'old',
    };
    // The look before the start and the first look after it see only the earlier task.
    world.proxy.inject('ListMessageMoveTasks', { kind: 'rewrite', rewrite: () => ({ Results: [earlier] }) }, 2);
    const run = await world.cli(['redrive']);
    expect(run.stdout).toBe('move task COMPLETED: 1 of 1 moved, pat-revoker-requests-dlq -> pat-revoker-requests\n');
    expect(run.code).toBe(0);
  });

  it('says plainly that a task is already running, and starts none', async () => {
    await deadLetters('not_found');
    world.proxy.inject('ListMessageMoveTasks', {
      kind: 'rewrite',
      rewrite: () => ({
        Results: [
          {
            Status: 'RUNNING',
            TaskHandle: 'h-1',
            SourceArn: world.dlqArn,
            StartedTimestamp: Date.now(),
            ApproximateNumberOfMessagesMoved: 3,
            ApproximateNumberOfMessagesToMove: 9,
          },
        ],
      }),
    });
    const run = await world.cli(['redrive']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('a move task is already running from pat-revoker-requests-dlq');
    expect(run.stderr).toContain('3 of 9 moved, handle h-1');
    expect(world.proxy.calls).not.toContain('StartMessageMoveTask');
  });

  it("refuses a --dlq-url that is not the queue's own DLQ, accepts its own as an ARN", async () => {
    await deadLetters('not_found');
    const other = await world.sqs.createQueue('someone-elses-dlq');
    const refused = await world.cli(['redrive', '--dlq-url', other]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`pat-revoker-requests's redrive policy names ${world.dlqArn}`);
    expect(refused.stderr).toContain('give --allow-other-dlq if you mean it');
    expect(world.proxy.calls).not.toContain('StartMessageMoveTask');

    const own = await world.cli(['redrive', '--dlq-url', world.dlqArn, '--no-wait', '--queue-url', world.queueArn]);
    expect(own.stdout).toBe('started; not following it (--no-wait)\n');
    expect(own.code).toBe(0);
  });

  it('on prod: no terminal and no --yes is exit 2 before any move; --yes goes ahead', async () => {
    // The loopback SQS finds queues by name, so prod's queue URL from the settings reaches these two.
    const dlq = await world.sqs.createQueue('pat-revoker-prod-requests-dlq');
    const { Attributes } = await world.sqs.client.send(
      new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }),
    );
    await world.sqs.createQueue('pat-revoker-prod-requests', {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes?.QueueArn, maxReceiveCount: 5 }),
    });
    await world.sqs.client.send(
      new SendMessageCommand({ QueueUrl: dlq, MessageBody: JSON.stringify({ tokenIds: [id(1)] }) }),
    );
    const refused = await world.cli(['redrive', '--env', 'prod']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('[PROD]');
    expect(refused.stderr).toContain(
      "into prod's request queue: this needs confirmation and there is no terminal to ask on; give --yes",
    );
    expect(world.proxy.calls).not.toContain('StartMessageMoveTask');
    const confirmed = await world.cli(['redrive', '--env', 'prod', '--yes']);
    expect(confirmed.stdout).toContain('move task COMPLETED: 1 of 1 moved');
  });
});

describe('status', () => {
  it('prints visible, in flight and delayed per queue, the newest age datapoint with its time, and the notes', async () => {
    await deadLetters('not_found', 'not_found');
    // A queue of its own for the delayed message, which no drain can take off before it is due.
    const delayedQueue = await world.sqs.createQueue('pat-revoker-delayed-requests', {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: world.dlqArn, maxReceiveCount: 5 }),
    });
    await world.sqs.client.send(
      new SendMessageCommand({ QueueUrl: delayedQueue, MessageBody: '{}', DelaySeconds: 60 }),
    );
    const now = Date.now() - (Date.now() % 60_000);
    world.apis.cloudWatch = {
      kind: 'datapoints',
      of: (_metric, queue) =>
        queue.endsWith('-dlq')
          ? [
              { at: now - 120_000, value: 900 },
              { at: now - 60_000, value: 960 },
            ]
          : [],
    };
    const run = await world.cli(['status', '--queue-url', delayedQueue]);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^queue +name +visible +in flight +delayed +oldest message \(CloudWatch\)$/);
    expect(lines[1]).toMatch(/^requests +pat-revoker-delayed-requests +0 +0 +1 +no datapoint in the last 15 min/);
    expect(lines[2]).toMatch(
      new RegExp(`^dead letters +pat-revoker-requests-dlq +2 +0 +0 +960 s at ${new Date(now - 60_000).toISOString()}$`),
    );
    expect(run.stderr).toContain(
      'counts are approximate (SQS); delayed messages on the request queue are mostly continuations',
    );
    expect(run.stderr).toContain('CloudWatch lags');
    expect(run.stdout).not.toContain('empty queue');
  });

  it('--output json holds the same figures', async () => {
    await deadLetters('not_found');
    const run = await world.cli(['status', '--output', 'json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.approximate).toBe(true);
    expect(report.queues.map((q: any) => [q.role, q.name, q.visible, q.inFlight, q.delayed])).toEqual([
      ['requests', 'pat-revoker-requests', 0, 0, 0],
      ['dead letters', 'pat-revoker-requests-dlq', 1, 0, 0],
    ]);
    expect(report.target).toMatchObject({ account: '123456789012', accountVerified: true });
  });

  it('CloudWatch failing or hanging: the SQS part is printed, with the real error', async () => {
    await deadLetters('not_found');
    world.apis.cloudWatch = {
      kind: 'error',
      status: 400,
      type: 'AccessDenied',
      message: 'User alice is not authorized to perform cloudwatch:GetMetricData',
    };
    const denied = await world.cli(['status']);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toMatch(
      /dead letters +pat-revoker-requests-dlq +1 +0 +0 +CloudWatch failed: AccessDenied \(HTTP 400\): User alice is not authorized/,
    );

    world.apis.cloudWatch = { kind: 'hang' };
    const hung = await world.cli(['status', '--timeout', '5']);
    expect(hung.stdout).toMatch(
      /dead letters +pat-revoker-requests-dlq +1 +0 +0 +CloudWatch failed: the overall --timeout passed/,
    );
  });

  it("an SQS that stops answering about the DLQ: the request queue's figures are printed, within --timeout", async () => {
    world.proxy.inject('GetQueueAttributes', { kind: 'hang' }, Number.POSITIVE_INFINITY, (request) =>
      String(request.QueueUrl).endsWith('-dlq'),
    );
    const run = await world.cli(['status', '--timeout', '5']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^requests +pat-revoker-requests +0 +0 +0 +not asked: the overall --timeout passed/m);
    // SQS was slow, not CloudWatch: CloudWatch is not blamed.
    expect(run.stdout).toContain('dead letters: counts unknown: not read: the overall --timeout passed');
  });

  it('a DLQ that cannot be found leaves the request queue shown, and exits 1', async () => {
    world.proxy.inject('GetQueueUrl', {
      kind: 'error',
      status: 400,
      type: 'QueueDoesNotExist',
      message: 'The specified queue does not exist.',
    });
    const run = await world.cli(['status']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^requests +pat-revoker-requests +0 +0 +0/m);
    expect(run.stdout).toContain(
      `dead letters: counts unknown: Error: cannot find the queue ${world.dlqArn} ← caused by QueueDoesNotExist`,
    );
  });

  it('shows a running move task', async () => {
    world.proxy.inject('ListMessageMoveTasks', {
      kind: 'rewrite',
      rewrite: () => ({
        Results: [
          {
            Status: 'RUNNING',
            TaskHandle: 'h',
            SourceArn: world.dlqArn,
            StartedTimestamp: 1_700_000_000_000,
            ApproximateNumberOfMessagesMoved: 5,
            ApproximateNumberOfMessagesToMove: 50,
          },
        ],
      }),
    });
    const run = await world.cli(['status']);
    expect(run.stdout).toContain(
      'move task RUNNING from pat-revoker-requests-dlq: 5 of 50 moved, started 2023-11-14T22:13:20.000Z',
    );
  });
});

describe('conventions', () => {
  it('options of one command are refused by another; a bad value names the option; exit 2', async () => {
    for (const args of [
      ['status', '--file', '/etc/shadow'],
      ['redrive', '--incident', 'x'],
      ['status', '--output', 'yaml'],
    ]) {
      const run = await world.cli(args);
      expect([args, run.code]).toEqual([args, 2]);
      expect(run.stdout).toBe('');
    }
    expect((await world.cli(['status', '--output', 'yaml'])).stderr).toContain(
      "option '--output <format>' argument 'yaml' is invalid. must be one of table, json",
    );
  });

  it('--version, per-command help on stdout; no command is usage on stderr with exit 2', async () => {
    const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
    expect(await world.cli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    const help = await world.cli(['enqueue', '--help']);
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toContain('--request-dry-run');
    expect(help.stdout).not.toContain('--dlq-url');
    const none = await world.cli([], { bare: true });
    expect([none.code, none.stdout]).toEqual([2, '']);
    expect(none.stderr).toContain('Usage: pat-revoker [options] [command]');
  });

  it('no region anywhere is a usage error (exit 2), not an AWS failure', async () => {
    const run = await world.cli(['status'], { env: { AWS_REGION: undefined } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no AWS region: give --region, or set AWS_REGION');
  });

  it('--profile gives the region (and credentials) from the AWS config files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pat-revoker-profile-'));
    try {
      writeFileSync(join(dir, 'config'), '[profile ops]\nregion = eu-central-1\n');
      writeFileSync(join(dir, 'credentials'), '[ops]\naws_access_key_id = ops\naws_secret_access_key = ops\n');
      const env = {
        AWS_REGION: undefined,
        AWS_CONFIG_FILE: join(dir, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      };
      const run = await world.cli(['status', '--profile', 'ops'], { env });
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(', region eu-central-1, queue ');
      expect((await world.cli(['status'], { env })).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--endpoint-url, PAT_REVOKER_QUEUE_URL, --quiet, and no colour when stdout is not a terminal', async () => {
    await deadLetters('not_found');
    const run = await world.cli(['status', '--endpoint-url', world.proxy.url, '--quiet'], {
      bare: true,
      env: { AWS_ENDPOINT_URL_SQS: '', PAT_REVOKER_QUEUE_URL: world.queueUrl },
    });
    expect(run.code).toBe(0);
    expect(world.proxy.calls).toContain('GetQueueAttributes');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/dead letters +pat-revoker-requests-dlq +1/);
    expect(run.stdout).not.toContain('\u001b[');
  });

  it('the README way (npm run -s revoke) and the bin keep stdout to the result', () => {
    const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
    const npm = spawnSync('npm', ['run', '-s', 'revoke', '--', '--version'], { encoding: 'utf8' });
    expect([npm.status, npm.stdout]).toEqual([0, `${version}\n`]);
    const bin = spawnSync(process.execPath, ['tools/cli/pat-revoker.mjs', '--version'], { encoding: 'utf8' });
    expect([bin.status, bin.stdout]).toEqual([0, `${version}\n`]);
  });
});
