import { createHash, generateKeyPairSync } from 'node:crypto';
/**
 * The operator CLI against a loopback SQS (local-aws-sqs: the request queue and its DLQ), CloudWatch mocked (no
 * loopback server speaks it). Requests it enqueues are then run through the real handler.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { TOKEN_ID_PATTERN } from '../../functions/lib/dfns/client.js';
import { MAX_LINE_BYTES } from '../../functions/lib/output-cap.js';
import { runCli } from '../../tools/cli/cli.js';
import { captureOutput } from '../support/stdout.js';
import { startWorld, type World } from '../support/world.js';

let world: World;
let queueUrl: string;
const cloudwatch = mockClient(CloudWatchClient);

beforeAll(async () => {
  world = await startWorld();
  const dlqArn = (
    await world.sqs.client.send(
      new GetQueueAttributesCommand({ QueueUrl: world.sqs.deadLetterQueueUrl, AttributeNames: ['QueueArn'] }),
    )
  ).Attributes!.QueueArn!;
  const created = await world.sqs.client.send(
    new CreateQueueCommand({
      QueueName: 'pat-revoker-requests',
      Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) },
    }),
  );
  queueUrl = created.QueueUrl!;
});
afterAll(async () => world.close());
beforeEach(async () => {
  await world.reset();
  await world.sqs.drain(queueUrl);
  cloudwatch.reset();
});

/** Runs the CLI in-process and returns its exit code and output. */
async function cli(args: string[], stdin = '') {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    [
      ...args,
      ...(['--queue-url', '--env', '--help'].some((a) => args.includes(a)) || args[0] === 'nope'
        ? []
        : ['--queue-url', queueUrl, '--dlq-url', world.sqs.deadLetterQueueUrl]),
    ],
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), readStdin: () => stdin },
    { sqs: world.sqs.client, cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }) },
  );
  return { code, stdout, stderr };
}

/** Every message now in the request queue (taken off it), bodies parsed. */
async function queued(): Promise<Array<{ body: any; messageId: string; raw: string }>> {
  return (await world.sqs.drain(queueUrl)).map((m) => ({ body: m.body, messageId: m.messageId!, raw: m.raw! }));
}

const id = (n: number) => `to-aaaaa-bbbbb-${String(n).padStart(16, '0')}`;

describe('enqueue', () => {
  it('sends one request with the metadata and prints its message ID', async () => {
    const { code, stdout } = await cli([
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
    expect(code).toBe(0);
    const messages = await queued();
    expect(messages.map((m) => m.body)).toEqual([
      { tokenIds: [id(1), id(2)], incidentId: 'INC-77', reason: 'leak', requestedBy: 'alice' },
    ]);
    expect(stdout).toBe(`${messages[0]!.messageId}\t2 token ID(s)\n`);
  });

  it('reads a file and standard input, trims and dedupes, and marks dry runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pat-revoker-cli-'));
    const file = join(dir, 'ids.txt');
    writeFileSync(file, `${id(1)}\n ${id(2)},${id(1)}\n`);
    try {
      expect((await cli(['enqueue', '--file', file, '--dry-run'])).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect((await cli(['enqueue', '--file', '-'], `${id(3)} ${id(3)}`)).code).toBe(0);
    const bodies = (await queued()).map((m) => m.body).sort((a, b) => a.tokenIds.length - b.tokenIds.length);
    expect(bodies).toEqual([
      { tokenIds: [id(3)], requestedBy: expect.stringMatching(/^cli:/) },
      { tokenIds: [id(1), id(2)], requestedBy: expect.stringMatching(/^cli:/), dryRun: true },
    ]);
  });

  it('splits long lists into requests of at most 100 IDs, 10 per SendMessageBatch, with progress', async () => {
    const ids = Array.from({ length: 2_050 }, (_, i) => id(i));
    const { code, stdout, stderr } = await cli(['enqueue', '--file', '-'], ids.join('\n'));
    expect(code).toBe(0);
    const messages = await queued();
    expect(messages).toHaveLength(21);
    expect(messages.map((m) => m.body.tokenIds.length).sort((a, b) => b - a)).toEqual([...Array(20).fill(100), 50]);
    expect(new Set(messages.flatMap((m) => m.body.tokenIds))).toEqual(new Set(ids));
    expect(stdout.trim().split('\n')).toHaveLength(21);
    expect(stderr).toMatch(
      /sent 1000\/2050 token IDs\nsent 2000\/2050 token IDs\nsent 2050\/2050 token IDs\n2050 token ID\(s\) in 21 request\(s\) queued/,
    );
  });

  it('refuses the whole command when any ID is invalid, listing each with its rule; nothing is sent', async () => {
    const { code, stderr } = await cli(['enqueue', id(1), 'TO-AAAAA-BBBBB-CCCCCCCCCCCCCCCC', `${id(2)}/x`]);
    expect(code).toBe(2);
    expect(stderr).toContain('refused, nothing sent: 2 invalid token ID(s)');
    expect(stderr).toContain('"TO-AAAAA-BBBBB-CCCCCCCCCCCCCCCC": contains upper-case letters');
    expect(stderr).toContain(`"${id(2)}/x": contains path characters`);
    expect(await queued()).toEqual([]);
  });

  it('lists the first 20 of 10 000 invalid IDs, counts the rest, and keeps every line within the cap', async () => {
    const huge = `x${'€'.repeat(40_000)}`; // 120 000 bytes on one line of the file
    const values = [huge, ...Array.from({ length: 9_999 }, (_, i) => `bad-${i}`)];
    const { code, stderr } = await cli(['enqueue', '--file', '-'], values.join('\n'));
    expect(code).toBe(2);
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('pat-revoker: refused, nothing sent: 10000 invalid token ID(s)');
    expect(lines.slice(2, 21)).toEqual(
      values.slice(1, 20).map((v) => `  "${v}": does not match ${TOKEN_ID_PATTERN.source}`),
    );
    expect(lines[21]).toBe('  …[9980 more not shown]');
    expect(lines).toHaveLength(22);
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    // A value longer than any token ID may be a secret: shown only by its start and fingerprint.
    expect(lines[1]).toBe(
      `  "x€€€€€€€…sha256:${createHash('sha256').update(huge).digest('hex')}": longer than any token ID and possibly a secret; shown only as a fingerprint`,
    );
    expect(await queued()).toEqual([]);
  });

  it('a leaked access token given as an argument is refused and shown only as its start and fingerprint', async () => {
    const pat = world.sandbox.addPat();
    const { code, stderr, stdout } = await cli(['enqueue', pat.accessToken]);
    expect(code).toBe(2);
    const fingerprint = createHash('sha256').update(pat.accessToken).digest('hex');
    expect(stderr).toContain(
      `"${pat.accessToken.slice(0, 8)}…sha256:${fingerprint}": an access token (JWT) naming ${pat.tokenId}`,
    );
    expect(`${stdout}${stderr}`).not.toContain(pat.accessToken.split('.')[1]);
    expect(await queued()).toEqual([]);
  });

  it('a secret pasted where a command or an option value belongs is never echoed', async () => {
    const { accessToken } = world.sandbox.addPat();
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    for (const argv of [[accessToken], ['enqueue', key], ['status', '--queue-url', accessToken]]) {
      const { code, stdout, stderr } = await cli(argv);
      expect(code).toBe(2);
      for (const secret of [accessToken, key]) expect(`${stdout}${stderr}`).not.toContain(secret.slice(10, 40));
    }
  });

  it('an error line quoting a huge argument stays within the cap', async () => {
    const { code, stderr } = await cli([`x${'y'.repeat(200_000)}`]);
    expect(code).toBe(2);
    for (const line of stderr.split('\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(stderr).toMatch(/unknown command "xyyy.*…\[cut \d+ bytes\]/);
  });

  it('what it enqueues, the handler deactivates', async () => {
    const tokens = world.sandbox.seedPats(3);
    expect((await cli(['enqueue', ...tokens, '--incident', 'INC-CLI'])).code).toBe(0);
    const [message] = await queued();
    const output = captureOutput();
    try {
      const response = await world.handler()([{ messageId: message!.messageId, body: message!.raw }]);
      expect(response).toEqual({ batchItemFailures: [] });
    } finally {
      output.stop();
    }
    expect(tokens.map((t) => world.sandbox.isActive(t))).toEqual([false, false, false]);
    expect(output.audit().map((l) => [l.outcome, l.incidentId, l.source])).toEqual(
      Array(3).fill(['deactivated', 'INC-CLI', 'json']),
    );
  });
});

describe('redrive', () => {
  it('moves dead-lettered requests back to the request queue and reports the task', async () => {
    for (const n of [1, 2]) {
      await world.sqs.client.send(
        new SendMessageCommand({
          QueueUrl: world.sqs.deadLetterQueueUrl,
          MessageBody: JSON.stringify({ tokenIds: [id(n)] }),
        }),
      );
    }
    const { code, stdout } = await cli(['redrive', '--rate', '10']);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^move task \S+: (RUNNING|COMPLETED), \d+ of \S+ moved, arn:aws:sqs:\S+:pat-revoker-dlq -> arn:aws:sqs:\S+:pat-revoker-requests\n$/,
    );
    const deadline = Date.now() + 5_000;
    let moved: unknown[] = [];
    while (moved.length < 2 && Date.now() < deadline) {
      moved = [...moved, ...(await queued()).map((m) => m.body)];
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(moved).toEqual(expect.arrayContaining([{ tokenIds: [id(1)] }, { tokenIds: [id(2)] }]));
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });
});

describe('status', () => {
  it('prints depth and oldest age of the queue and the DLQ', async () => {
    await world.sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{}' }));
    await world.sqs.client.send(new SendMessageCommand({ QueueUrl: world.sqs.deadLetterQueueUrl, MessageBody: '{}' }));
    await world.sqs.client.send(new SendMessageCommand({ QueueUrl: world.sqs.deadLetterQueueUrl, MessageBody: '{}' }));
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'q0', Values: [12, 40] },
        { Id: 'q1', Values: [] },
      ],
    });
    const { code, stdout } = await cli(['status']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^pat-revoker-requests\s+1\s+0\s+40 s$/m);
    expect(stdout).toMatch(/^pat-revoker-dlq\s+2\s+0\s+no data/m);
    const query = cloudwatch.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries!;
    expect(query.map((q) => q.MetricStat!.Metric!.Dimensions)).toEqual([
      [{ Name: 'QueueName', Value: 'pat-revoker-requests' }],
      [{ Name: 'QueueName', Value: 'pat-revoker-dlq' }],
    ]);
  });

  it('still prints the depths when CloudWatch is unavailable', async () => {
    cloudwatch.on(GetMetricDataCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    const { code, stdout, stderr } = await cli(['status']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^pat-revoker-requests\s+0\s+0\s+unknown$/m);
    expect(stderr).toContain('oldest message age unavailable (AccessDenied: denied)');
  });
});

describe('usage', () => {
  it.each([
    [['nope'], 2, /unknown command "nope"/],
    [['enqueue'], 2, /no token ID/],
    [['redrive', '--rate', 'fast'], 2, /--rate must be a whole number from 1 to 500/],
    [['status', '--env', 'qa'], 2, /--env must be one of dev, staging, prod/],
    [['status', '--env', 'dev', '--queue-url', 'https://sqs.eu-west-1.amazonaws.com/111111111111/q'], 2, /not both/],
    [['status', '--queue-url', 'pat-revoker'], 2, /--queue-url must be an SQS queue URL/],
    [['enqueue', '--bogus'], 2, /Unknown option '--bogus'/],
  ])('%j exits %i', async (args, code, message) => {
    const result = await cli(args as string[]);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
  });

  it('--help works for the CLI and each command (the real bin, spawned)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    for (const args of [['--help'], ['enqueue', '--help'], ['redrive', '--help'], ['status', '--help']]) {
      const run = spawnSync(process.execPath, ['tools/cli/pat-revoker.mjs', ...args], { cwd: root, encoding: 'utf8' });
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/^Usage: pat-revoker/);
    }
    const none = spawnSync(process.execPath, ['tools/cli/pat-revoker.mjs'], { cwd: root, encoding: 'utf8' });
    expect(none.status).toBe(2);
  });
});
