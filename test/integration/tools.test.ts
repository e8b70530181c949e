/**
 * The tools an operator runs, spawned for real: `npm start` (the loop on one machine), `npm run sandbox` and
 * `npm run bench`, and their command lines (tools/command-line.ts: exit 0 for --help and --version, 2 for bad usage).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { recordOutput } from '../support/hygiene-buffer.js';
import { DfnsClient } from '../../functions/lib/dfns/client.js';
import { SigningKey } from '../../functions/lib/dfns/signing.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a tool's entry as its npm script does (`node --import tsx <entry>`), without npm's start-up, to its end. */
function runTool(entry: string, ...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

/** Expects a usage error: exit 2, `message` on stderr with the pointer to --help, nothing on stdout. */
function expectUsageError(run: ReturnType<typeof runTool>, ...messages: string[]): void {
  expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 2, stdout: '' });
  for (const message of messages) expect(run.stderr).toContain(message);
  expect(run.stderr).toContain('(add --help for usage)');
}

describe('npm start (the whole loop on one machine)', () => {
  it('runs the scripted incident through the CLI and the emulated event source, and exits 0 as scripted', async () => {
    const child = spawn('npm', ['start'], { cwd: root, env: { ...process.env, NODE_OPTIONS: '' } });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const [code] = (await once(child, 'close')) as [number | null];
    recordOutput(output); // what it printed is checked for secrets
    expect(code).toBe(0);
    const rows = output.split('\n').filter((line) => /^to-\S+ {2,}/.test(line));
    expect(rows.map((line) => line.split(/\s+/).slice(1))).toEqual([
      ['deactivated', 'deactivated', 'false'],
      ['deactivated', 'deactivated', 'false'],
      ['deactivated', 'deactivated', 'false'],
      ['deactivated', 'deactivated', 'false'],
      ['deactivated', 'deactivated', 'false'],
      ['not_found', 'not_found', 'unknown'],
    ]);
    expect(output).toMatch(/^\$ pat-revoker enqueue --incident INC-DEMO-1 /m);
    expect(output).toContain('dead-letter queue: 1 message(s)');
    expect(output).toMatch(/function timeout 20 s \(deployed: 60 s\)/);
    expect(output).toContain('every outcome is the script’s');
  }, 90_000);
});

describe('npm start -- --serve', () => {
  it('keeps the world up, prints the line that points the CLI at it, and stops on Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/demo.ts', '--serve'], { cwd: root });
    const printed = await outputUntil(child, 'Ctrl-C stops it.');
    recordOutput(printed);
    const envFile = /source (\S+) && npm run -s revoke -- status \)/.exec(printed)?.[1];
    expect(envFile).toBeDefined();
    const env = Object.fromEntries(
      readFileSync(envFile as string, 'utf8')
        .trim()
        .split('\n')
        .map((line) => /^export (\w+)='(.*)'$/.exec(line)!.slice(1, 3) as [string, string]),
    );
    const [token] = /seeded PATs: (\S+)/.exec(printed)!.slice(1) as [string];
    const enqueue = spawnSync(process.execPath, ['--import', 'tsx', 'tools/cli/main.ts', 'enqueue', token], {
      cwd: root,
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    });
    recordOutput(enqueue.stdout + enqueue.stderr);
    expect(enqueue.status).toBe(0);
    expect(enqueue.stderr).toContain('1 token ID(s) queued, 0 not queued');
    // The world's STS names its operator: the target is verified, not guessed from the queue URL.
    expect(enqueue.stderr).toContain(
      'target: account 123456789012 (you are arn:aws:sts::123456789012:assumed-role/pat-revoker-operator/operator)',
    );
    child.kill('SIGINT');
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(0);
    expect(existsSync(envFile as string)).toBe(false);
  }, 90_000);
});

function sandboxCli(...args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', 'tools/sandbox/main.ts', ...args], { cwd: root });
}

async function outputUntil(child: ChildProcessWithoutNullStreams, marker: string): Promise<string> {
  let out = '';
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    out += chunk;
    if (out.includes(marker)) return out;
  }
  throw new Error(`exited before printing "${marker}": ${out}`);
}

describe('npm run sandbox', () => {
  it('prints its URL, a usable credential and seeded PATs, and stops cleanly on Ctrl-C', async () => {
    const child = sandboxCli('--port', '0', '--tokens', '2');
    try {
      const out = await outputUntil(child, 'Press Ctrl-C to stop.');
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      const secret = JSON.parse(/^ {2}\{[\s\S]*?^ {2}\}$/m.exec(out)?.[0] as string);
      const tokenIds = [...out.matchAll(/^ {2}(to-[a-z0-9-]+)$/gm)].map((m) => m[1] as string);
      expect(tokenIds).toHaveLength(2);

      const state = await fetch(`${url}/auth/pats/${tokenIds[0]}`, {
        headers: { authorization: `Bearer ${secret.authToken}` },
      });
      expect(await state.json()).toMatchObject({ tokenId: tokenIds[0], isActive: true });
      const client = new DfnsClient({
        apiUrl: url,
        credential: { authToken: secret.authToken, credId: secret.credId, key: SigningKey.fromPem(secret.privateKey) },
      });
      await expect(client.deactivatePat(tokenIds[0] as string)).resolves.toMatchObject({ isActive: false });
    } finally {
      child.kill('SIGINT');
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('enforces an organisation limit when asked: 429 with Retry-After past it, and says so at start', async () => {
    const child = sandboxCli('--port', '0', '--tokens', '1', '--rate-limit', '2', '--rate-window', '30');
    try {
      const out = await outputUntil(child, 'Press Ctrl-C to stop.');
      expect(out).toContain('Organisation limit: 2 requests per 30 s, then 429 (Retry-After: seconds)');
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      const secret = JSON.parse(/^ {2}\{[\s\S]*?^ {2}\}$/m.exec(out)?.[0] as string);
      const tokenId = /^ {2}(to-[a-z0-9-]+)$/m.exec(out)?.[1] as string;
      const get = () =>
        fetch(`${url}/auth/pats/${tokenId}`, { headers: { authorization: `Bearer ${secret.authToken}` } });
      const answers = [await get(), await get(), await get()];
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
      expect(Number(answers[2]!.headers.get('retry-after'))).toBeGreaterThan(25);
    } finally {
      child.kill('SIGINT');
    }
    await once(child, 'exit');
  });

  it.each([
    [['--key', 'dsa'], `option '--key <type>' argument 'dsa' is invalid. must be one of ed25519, p256, rsa, got "dsa"`],
    [['--rate-limit', '0'], `option '--rate-limit <n>' argument '0' is invalid. must be a whole number from 1`],
    [
      ['--retry-after', 'soon'],
      `option '--retry-after <form>' argument 'soon' is invalid. must be one of seconds, http-date, none, got "soon"`,
    ],
    [['--port', '1', '--port', '2'], "option '--port <n>' argument '2' is invalid. it may be given only once"],
  ])('refuses a bad argument (%j) with exit code 2 and a message naming it', (args, message) => {
    expectUsageError(runTool('tools/sandbox/main.ts', ...args), message);
  });

  it.each([
    [['--rate-window', '5'], 'sandbox: --rate-window needs --rate-limit'],
    [['--retry-after', 'none'], 'sandbox: --retry-after needs --rate-limit'],
    [['--rate-window', '5', '--retry-after', 'none'], 'sandbox: --rate-window and --retry-after need --rate-limit'],
  ])('refuses %j without --rate-limit (it would be ignored) with exit code 2, naming both', (args, message) => {
    expectUsageError(runTool('tools/sandbox/main.ts', ...args), message);
  });
});

describe('npm run bench', () => {
  it('runs the bundled handler against the sandbox and ends with the machine-readable line', () => {
    const run = spawnSync(
      process.execPath,
      // Records of 100 IDs: batches of 1000 tokens, whose audit lines outgrow a pipe's buffer.
      [
        '--import',
        'tsx',
        'tools/bench.ts',
        '--tokens',
        '1000',
        '--ids-per-record',
        '100',
        '--latency',
        '2',
        '--concurrency',
        '8,32',
        '--baseline',
        '10',
        '--json',
      ],
      { cwd: root, encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^bench: \d+(\.\d+)? tokens\/s, \d+(\.\d+)?% of ideal, \d+(\.\d+)?x over baseline$/);
    const report = JSON.parse(lines.slice(0, -1).join('\n'));
    expect(report.runs[0]).toMatchObject({
      concurrency: 8,
      deactivated: 1000,
      retriedRecords: 0,
      getSecretValueCalls: 1,
    });
    expect(report.runs[1]).toMatchObject({
      concurrency: 32,
      deactivated: 1000,
      retriedRecords: 0,
      getSecretValueCalls: 1,
    });
    // 32 requests in flight all listen for the invocation deadline: more than Node's default of 10 listeners.
    expect(report.warnings).toEqual([]);
    expect(report.runs.map((r: { batchShapeBoundPercent: number }) => r.batchShapeBoundPercent)).toEqual([100, 97.7]);
    expect(report.runs[0].measuredRttMs).toBeGreaterThanOrEqual(2);
    expect(report).toMatchObject({ idsPerRecord: 100, tokensPerBatch: 1000 });
    expect(Object.keys(report.byKeyType)).toEqual(['Ed25519', 'P-256', 'RSA-3072']);
    expect(report.runs[0].liveHeapMb).toBeGreaterThan(0);
    expect(report.cpuMicrosecondsPerRequest.fetch).toBeGreaterThan(0);
    expect(report.bundle.bytes).toBeLessThan(1024 * 1024);
  }, 120_000);

  it.each([
    [['--tokens', 'abc'], `option '--tokens <n>' argument 'abc' is invalid. must be a whole number from 1 to 100000`],
    [
      ['--concurrency', '8,0'],
      `option '--concurrency <list>' argument '8,0' is invalid. must be a whole number from 1`,
    ],
    [['--ids-per-record', '101'], `option '--ids-per-record <n>' argument '101' is invalid. must be a whole number`],
    [
      ['--latency', '5', '--latency', '6'],
      "option '--latency <ms>' argument '6' is invalid. it may be given only once",
    ],
    [['--tokens', '50000'], 'bench: --tokens × 2 concurrencies + the baseline must stay within 100000 tokens'],
  ])('refuses %j with exit code 2 before starting anything', (args, message) => {
    expectUsageError(runTool('tools/bench.ts', ...args), message);
  });

  it('--incident runs the loop under the organisation limit beside its own traffic and ends with its line', async () => {
    // A few hundred tokens on a clock 30 times faster (2 s windows): seconds, not minutes. Asynchronous, so that
    // jest's own timeout can still fire while the run goes on.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'tools/bench.ts', '--incident', '--tokens', '300', '--containers', '2', '--scale', '30'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = await once(child, 'close');
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(
      /^incident: \d+(\.\d+)? tokens\/min, \d+(\.\d+)?% of ideal, \d+(\.\d+)?% of its requests refused, \d+ refused to the organisation$/,
    );
    expect(stdout).toContain('tokens deactivated                      300 of 300; still active in the sandbox: 0');
    expect(stdout).toContain('every token ended deactivated (audit lines and the sandbox agree)');
    expect(stdout).toMatch(/scale ×30: every rate × 30, the 2 s window/);
    expect(stdout).toMatch(/one request of 100 tokens on the idle deployment:\n {2}time to contain +\d/);
  }, 90_000);

  it.each([
    [
      ['--scale', '7'],
      `option '--scale <x>' argument '7' is invalid. must be one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60 (60/x whole seconds), got "7"`,
    ],
    [['--tokens', '5', '--tokens', '6'], "option '--tokens <n>' argument '6' is invalid. it may be given only once"],
    [['--budget', '5', '--containers', '2'], 'bench: --budget must be at least 3 × --containers (6), got 5'],
    [['--org-limit', '100'], 'bench: --budget must be a whole number from 3 to 100 (at most --org-limit), got 600'],
  ])('--incident refuses %j with exit code 2 before starting anything', (args, message) => {
    expectUsageError(runTool('tools/bench.ts', '--incident', ...args), message);
  });
});

describe("the tools' command lines", () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const tools: Array<[script: string, entry: string, args: string[]]> = [
    ['npm run sandbox', 'tools/sandbox/main.ts', []],
    ['npm run bench', 'tools/bench.ts', []],
    ['npm run bench -- --incident', 'tools/bench.ts', ['--incident']],
    ['npm start', 'tools/demo.ts', []],
  ];

  it.each(tools)('%s --version prints the project version on stdout, exit 0', (_, entry, args) => {
    const run = runTool(entry, ...args, '--version');
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      status: 0,
      stdout: `${version}\n`,
      stderr: '',
    });
  });

  it.each(tools)('%s --help says how to run it through npm, on stdout, exit 0', (script, entry, args) => {
    const run = runTool(entry, ...args, '--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Usage: ${script.replace(/[-.]/g, '\\$&')}( --)? \\[options\\]\n`));
    expect(run.stderr).toBe('');
  });

  it.each(tools)('%s refuses an unknown option with exit code 2, naming it', (_, entry, args) => {
    expectUsageError(runTool(entry, ...args, '--no-such-option'), "unknown option '--no-such-option'");
  });
});
