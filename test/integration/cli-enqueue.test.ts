/**
 * `pat-revoker enqueue` as a process against a loopback SQS (through a fault-injecting proxy): every request
 * accounted for, timeouts, Ctrl-C, the local dry run, prod confirmations, and the input rules.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { MAX_LINE_BYTES } from '../../functions/lib/output-cap.js';
import { type DfnsSandbox, startSandbox } from '../../tools/sandbox/sandbox.js';
import { type CliWorld, startCliWorld } from '../support/cli-world.js';
import { startHungServer } from '../support/hung-server.js';

let world: CliWorld;
let sandbox: DfnsSandbox;
let dir: string;
beforeAll(async () => {
  [world, sandbox] = await Promise.all([startCliWorld(), startSandbox()]);
  dir = mkdtempSync(join(tmpdir(), 'pat-revoker-cli-'));
});
afterAll(async () => {
  await Promise.all([world.close(), sandbox.close()]);
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  world.proxy.clear();
  await world.sqs.drain(world.queueUrl);
});

const id = (n: number) => `to-aaaaa-bbbbb-${String(n).padStart(16, '0')}`;
const ids = (count: number, from = 0) => Array.from({ length: count }, (_, i) => id(from + i));
/** Every message now in the request queue (taken off it). */
const queued = async () =>
  (await world.sqs.drain(world.queueUrl)).map((m) => ({ body: m.body as any, id: m.messageId }));
const resend = (name: string) => ['--resend-file', join(dir, name)];

describe('enqueue: what was queued and what was not', () => {
  it('queues one request with its metadata, shows the target first, and prints the message ID', async () => {
    const run = await world.cli([
      'enqueue',
      id(1),
      id(2),
      '--incident',
      'INC-77',
      '--reason',
      'leak',
      '--requested-by',
      'alice',
    ]);
    expect(run.code).toBe(0);
    const messages = await queued();
    expect(messages.map((m) => m.body)).toEqual([
      { tokenIds: [id(1), id(2)], incidentId: 'INC-77', reason: 'leak', requestedBy: 'alice' },
    ]);
    expect(run.stdout).toMatch(new RegExp(`^message ID +token IDs +status\\n${messages[0]!.id} +2 +queued\\n$`));
    expect(run.stderr.split('\n')[0]).toBe(
      `target: account 123456789012 (you are arn:aws:sts::123456789012:assumed-role/operator/alice), region eu-west-1, queue ${world.queueUrl} through endpoint ${world.proxy.url}`,
    );
  });

  it('reads every --file given (and standard input), and a second --incident is refused', async () => {
    const [a, b] = [join(dir, 'a.txt'), join(dir, 'b.txt')];
    writeFileSync(a, `${id(1)}\n ${id(2)},${id(1)}\n`);
    writeFileSync(b, id(3));
    expect((await world.cli(['enqueue', '--file', a, '--file', b, '--file', '-'], { stdin: id(4) })).code).toBe(0);
    expect((await queued()).flatMap((m) => m.body.tokenIds).sort()).toEqual([id(1), id(2), id(3), id(4)]);

    const twice = await world.cli(['enqueue', id(5), '--incident', 'A', '--incident', 'B']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain("option '--incident <id>' argument 'B' is invalid. it may be given only once");
    expect(await queued()).toEqual([]);
  });

  it('splits 2 050 IDs into requests of at most 100, ten per SendMessageBatch, with progress lines', async () => {
    const all = ids(2_050);
    const run = await world.cli(['enqueue', '--file', '-'], { stdin: all.join('\n') });
    expect(run.code).toBe(0);
    const messages = await queued();
    expect(messages.map((m) => m.body.tokenIds.length).sort((x, y) => y - x)).toEqual([...Array(20).fill(100), 50]);
    expect(new Set(messages.flatMap((m) => m.body.tokenIds))).toEqual(new Set(all));
    expect(world.proxy.calls.filter((c) => c === 'SendMessageBatch')).toHaveLength(3);
    expect(run.stderr).toMatch(/1000\/2050 token IDs handled \(48 %\)/);
    expect(run.stderr).toMatch(/2050\/2050 token IDs handled \(100 %\)/);
    expect(run.stderr).toContain(
      '2050 token ID(s) queued, 0 not queued, 0 may have been queued (answer lost), 0 not confirmed',
    );
  });

  it('a lost answer is "may have been queued", never "send again"; later requests are not sent and listed', async () => {
    world.proxy.inject('SendMessageBatch', { kind: 'lose-answer' }, 1);
    const run = await world.cli(['enqueue', '--file', '-', ...resend('lost.txt')], { stdin: ids(1_500).join('\n') });
    expect(run.code).toBe(1);
    // SQS kept the first batch once (no SDK retry), and nothing after it was sent.
    expect(world.proxy.calls.filter((c) => c === 'SendMessageBatch')).toHaveLength(1);
    expect((await queued()).flatMap((m) => m.body.tokenIds)).toHaveLength(1_000);
    expect(run.stderr).toContain(
      '0 token ID(s) queued, 500 not queued, 1000 may have been queued (answer lost), 0 not confirmed',
    );
    expect(readFileSync(join(dir, 'lost.txt'), 'utf8').trim().split('\n')).toEqual(ids(500, 1_000));
    expect(readFileSync(join(dir, 'lost.txt.uncertain'), 'utf8').trim().split('\n')).toEqual(ids(1_000));
    expect(run.stderr).not.toMatch(/send them again/i);
  });

  it('a refusal is "not queued"; an entry missing from both Successful and Failed is "not confirmed"', async () => {
    world.proxy.inject('SendMessageBatch', {
      kind: 'rewrite',
      rewrite: (answer) => ({
        Successful: answer.Successful.filter((e: { Id: string }) => e.Id === '0'),
        Failed: [{ Id: '1', Code: 'KMS.ThrottlingException', Message: 'slow down', SenderFault: false }],
      }),
    });
    const run = await world.cli(['enqueue', '--file', '-', ...resend('refused.txt')], { stdin: ids(300).join('\n') });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('not queued: 100 token ID(s): KMS.ThrottlingException: slow down');
    expect(run.stderr).toContain('not confirmed (missing from SQS answer): 100 token ID(s)');
    expect(run.stderr).toContain(
      '100 token ID(s) queued, 100 not queued, 0 may have been queued (answer lost), 100 not confirmed',
    );
    expect(readFileSync(join(dir, 'refused.txt'), 'utf8').trim().split('\n')).toEqual(ids(100, 100));
    expect(readFileSync(join(dir, 'refused.txt.uncertain'), 'utf8').trim().split('\n')).toEqual(ids(100, 200));
  });

  it('an SQS that never answers: stops at the request timeout and says what was not queued', async () => {
    world.proxy.inject('SendMessageBatch', { kind: 'hang' });
    const run = await world.cli([
      'enqueue',
      id(1),
      '--request-timeout',
      '1',
      ...resend('hang.txt'),
      '--output',
      'json',
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.summary).toEqual({ queued: 0, notQueued: 0, answerLost: 1, notConfirmed: 0 });
    expect(report.requests[0].reason).toMatch(/TimeoutError.*1000 ms/);
  });

  it('an endpoint that accepts connections and never answers: the overall --timeout ends it with the list', async () => {
    const hung = await startHungServer();
    try {
      const run = await world.cli(['enqueue', ...ids(3), '--timeout', '2', ...resend('overall.txt')], {
        env: { AWS_ENDPOINT_URL_SQS: hung.url },
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('stopped: the overall --timeout passed');
      expect(run.stderr).toContain('may have been queued (answer lost): 3 token ID(s)');
      expect(hung.accepted).toBeGreaterThan(0);
    } finally {
      await hung.close();
    }
  });

  it('an endpoint that refuses connections: "not queued", since nothing reached SQS', async () => {
    const run = await world.cli(['enqueue', ...ids(2), ...resend('refused-connection.txt')], {
      env: { AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('not queued: 2 token ID(s): Error (ECONNREFUSED)');
    expect(readFileSync(join(dir, 'refused-connection.txt'), 'utf8').trim().split('\n')).toEqual(ids(2));
  });

  it('Ctrl-C while a send waits: prints what was and was not queued, exit 130', async () => {
    world.proxy.inject('SendMessageBatch', { kind: 'hang' }, 1);
    const run = await world.cli(['enqueue', ...ids(5), ...resend('ctrl-c.txt')], { interruptWhen: 'target:' });
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('may have been queued (answer lost): 5 token ID(s)');
    expect(run.stderr).toContain('0 token ID(s) queued');
  });

  it('--dry-run is a local preview: nothing sent, nothing called, even with no region and a dead endpoint', async () => {
    const run = await world.cli(['enqueue', ...ids(150), '--dry-run', '--incident', 'I-1'], {
      env: { AWS_REGION: undefined, AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9' },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^request +token IDs +first +last\n +1 +100 /);
    expect(run.stderr).toContain(`dry run: 150 token ID(s) in 2 request(s) would go to ${world.queueUrl}`);
    expect(world.proxy.calls).toEqual([]);
    expect(await queued()).toEqual([]);
  });

  it('--request-dry-run marks the requests as dry runs for the function, and says so', async () => {
    const run = await world.cli(['enqueue', id(1), '--request-dry-run']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('the requests are dry runs (--request-dry-run): the function validates and logs');
    expect((await queued()).map((m) => m.body.dryRun)).toEqual([true]);
  });

  it('the command to send again names the same queue and metadata; the target names the endpoint', async () => {
    world.proxy.inject('SendMessageBatch', { kind: 'error', status: 400, type: 'AccessDenied', message: 'no' });
    const run = await world.cli(['enqueue', id(1), '--incident', 'INC 9', ...resend('again.txt')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `  enqueue --file ${join(dir, 'again.txt')} --queue-url ${world.queueUrl} --incident 'INC 9'\n`,
    );
    expect(run.stderr).toContain(`queue ${world.queueUrl} through endpoint ${world.proxy.url}`);
  });

  it('npm run -s revoke reads a relative --file from where npm was run', async () => {
    writeFileSync(join(dir, 'relative.txt'), id(7));
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const run = spawnSync(
      'npm',
      [
        '--prefix',
        root,
        'run',
        '-s',
        'revoke',
        '--',
        'enqueue',
        '--file',
        'relative.txt',
        '--dry-run',
        '--queue-url',
        world.queueUrl,
      ],
      {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, ...world.env },
      },
    );
    expect([run.status, run.stderr]).toEqual([0, expect.stringContaining('dry run: 1 token ID(s) in 1 request(s)')]);
    expect(run.stdout).toContain(id(7));
  });
});

describe('enqueue: input', () => {
  it('refuses the whole command when any ID is invalid, listing each with its rule; nothing is sent', async () => {
    const run = await world.cli(['enqueue', id(1), 'TO-AAAAA-BBBBB-CCCCCCCCCCCCCCCC', `${id(2)}/x`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('refused, nothing sent: 2 invalid token ID(s)');
    expect(run.stderr).toContain('"TO-AAAAA-BBBBB-CCCCCCCCCCCCCCCC": contains upper-case letters');
    expect(world.proxy.calls).toEqual([]);
  });

  it('lists the first 20 of 10 000 invalid IDs within the line cap; a long value only by its fingerprint', async () => {
    const huge = `x${'€'.repeat(40_000)}`;
    const run = await world.cli(['enqueue', '--file', '-'], {
      stdin: [huge, ...Array.from({ length: 9_999 }, (_, i) => `bad-${i}`)].join('\n'),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('  …[9980 more not shown]');
    expect(run.stderr).toContain(`"x€€€€€€€…sha256:${createHash('sha256').update(huge).digest('hex')}"`);
    for (const line of run.stderr.split('\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
  });

  it('a leaked access token or a key pasted anywhere is never echoed', async () => {
    const { accessToken, tokenId } = sandbox.addPat();
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const refused = await world.cli(['enqueue', accessToken]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`an access token (JWT) naming ${tokenId}`);
    for (const args of [
      [accessToken],
      ['enqueue', key],
      ['status', '--queue-url', accessToken],
      ['enqueue', id(1), '--bogus', accessToken],
    ]) {
      const run = await world.cli(args, { bare: true });
      expect(run.code).toBe(2);
      for (const secret of [accessToken, key]) expect(`${run.stdout}${run.stderr}`).not.toContain(secret.slice(10, 40));
    }
  });
});

describe('enqueue on prod', () => {
  const prodQueue = 'https://sqs.eu-west-1.amazonaws.com/333333333333/pat-revoker-prod-requests';

  it('more than --confirm-above tokens without a terminal and without --yes: exit 2, nothing sent, never waits', async () => {
    for (const target of [
      ['--env', 'prod'],
      ['--queue-url', prodQueue],
    ]) {
      const run = await world.cli(['enqueue', ...ids(3), '--confirm-above', '2', ...target]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(
        'queue 3 token IDs on prod (pat-revoker-prod-requests): this needs confirmation and there is no terminal to ask on; give --yes',
      );
      expect(run.stderr).toContain('[PROD]');
    }
    expect(world.proxy.calls).toEqual([]);
  });

  it('at or under the threshold, or with --yes, it goes ahead (and names prod)', async () => {
    // The prod queue URL goes to the loopback SQS through the endpoint; it has no such queue, so SQS refuses.
    const run = await world.cli(['enqueue', ...ids(3), '--env', 'prod', '--yes', ...resend('prod.txt')]);
    expect(run.stderr).toContain(
      `region eu-west-1, queue https://sqs.eu-west-1.amazonaws.com/333333333333/pat-revoker-prod-requests through endpoint ${world.proxy.url}  [PROD]`,
    );
    expect(run.stderr).toContain('the queue is in account 333333333333');
    expect(world.proxy.calls).toContain('SendMessageBatch');
    expect(run.stderr).toMatch(/not queued: 3 token ID\(s\): .*QueueDoesNotExist|NonExistentQueue/);
  });
});
