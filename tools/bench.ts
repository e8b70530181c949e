/**
 * `npm run bench -- [--tokens 2000] [--large] [--latency 25] [--concurrency 8,32] [--baseline 200]
 *   [--ids-per-record 10] [--json]` (`--help` for the options); `npm run bench -- --incident` is the incident
 *   benchmark (tools/bench/incident.ts)
 *
 * Drives the real handler, bundled by esbuild exactly as the stack deploys it and run in a process of its own as a
 * container would (tools/bench/function-process.ts), against the Dfns sandbox with a fixed latency per request, in
 * SQS batches of 10 records × 10 tokens, and compares it with the physical limit of one invocation,
 * c / (3 × RTT) tokens/s, and with a naive baseline measured in the same run: a sequential loop over the official
 * @dfns/sdk client, as its README shows. After a successful run the last line is always
 * `bench: <T> tokens/s, <P>% of ideal, <X>x over baseline`, for the first concurrency.
 *
 * The sandbox runs in its own process (as Dfns is remote: its CPU is not the function's), started through
 * `npm run sandbox`'s entry. Numbers from a shared machine: the ratios matter, absolute figures do not.
 *
 * Two figures explain the distance to the ideal without hiding it (the headline stays against the nominal RTT):
 * - the round trip measured on this machine by bare keep-alive GETs at the same concurrency (no signing, no
 *   parsing): waking processes and loopback TCP add 1.5 to 3 ms per request here to the injected latency;
 * - the bound of the batch shape: one invocation gets one batch, so with b tokens and c in flight the last of
 *   ceil(b / c) waves runs partly idle, and no scheduler within the contract (c deactivations in flight) beats
 *   b / (ceil(b / c) × c) of the ideal.
 */
import { spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DfnsApiClient } from '@dfns/sdk';
import { AsymmetricKeySigner } from '@dfns/sdk-keysigner';
import { SigningKey } from '../functions/lib/dfns/signing.js';
import { HANDLER_ENTRY } from '../infra/bundling.js';
import { loopbackEnv } from './aws/loopback-env.js';
import { bundleHandler } from './bundle-handler.js';
import { sqsEvent } from './aws/lambda-events.js';
import { startSecretsManager } from './aws/secrets-manager.js';
import { startSqs } from './aws/sqs.js';
import { parseBenchOptions } from './bench/bench-options.js';
import { first, median, percentile, processCpuSeconds } from './bench/figures.js';
import { runFunctionProcess } from './bench/function-process.js';
import { batchShapeBound, compareTransports, measureRoundTrip, type ProbeTarget } from './bench/probes.js';
import { startSandboxProcess } from './bench/sandbox-process.js';
import { generateKey, type KeyKind } from './sandbox/ids.js';

// `--incident` is a benchmark of its own with options of its own (tools/bench/incident.ts): the loop under the
// organisation's limit, not the function alone.
if (process.argv.slice(2).includes('--incident')) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { runIncidentBench } = await import('./bench/incident.js');
  process.exit(await runIncidentBench());
}

const options = await parseBenchOptions();
const {
  tokens: TOKENS,
  latencyMs: RTT,
  concurrency: CONCURRENCY,
  baselineTokens: BASELINE_TOKENS,
  idsPerRecord: PER_RECORD,
} = options;
/** A request budget far above what this machine can send: the benchmark is unthrottled. */
const UNBOUND_REQUESTS_PER_MINUTE = 1_000_000;
const PER_BATCH = 10 * PER_RECORD;
const SECRET_ID = 'bench/dfns-credential';
const quiet = options.json;
const say = (text: string) => {
  if (!quiet) process.stderr.write(`${text}\n`);
};

/** Holds the bundle and the sandbox's credential file (a private key) for the run; removed at the end, always. */
const dir = mkdtempSync(join(tmpdir(), 'pat-revoker-bench-'));
const bundle = join(dir, 'index.mjs');

/** Every sandbox process started, to stop at the end. */
const sandboxes: ChildProcessWithoutNullStreams[] = [];

/** A sandbox process with `count` seeded PATs at the run's latency (they all write the credential to `dir`). */
const startSandbox = (count: number, key: KeyKind = 'ed25519') =>
  startSandboxProcess({ tokens: count, latencyMs: RTT, key, credentialFile: join(dir, 'credential.json') }, sandboxes);

// Interrupted (Ctrl-C, kill, timeout): `finally` does not run on a signal, so stop the sandboxes and remove the folder
// holding the bundle and the credential (a private key) here, then exit as the signal would have.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    for (const child of sandboxes) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  });
}

// The AWS SDK's notice that it will need Node 22 concerns this machine's Node 20 only (the stack deploys Node 24).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** The function processes' warnings (a listener leak, a deprecation): a clean run has none. */
const warnings: string[] = [];

const [secrets, sqs] = await Promise.all([startSecretsManager(), startSqs()]);
try {
  say(`starting the sandbox (${RTT} ms per request) in its own process ...`);
  const sandbox = await startSandbox(TOKENS * CONCURRENCY.length + BASELINE_TOKENS);
  say(`bundling ${HANDLER_ENTRY} as deployed ...`);
  await bundleHandler(bundle);
  const bundleBytes = statSync(bundle).size;

  const account = sandbox.secret;
  secrets.setSecret(SECRET_ID, JSON.stringify(account));
  const env = {
    ...loopbackEnv({
      dfnsApiUrl: sandbox.url,
      secretsManagerUrl: secrets.url,
      deadLetterQueueUrl: sqs.deadLetterQueueUrl,
      secretId: SECRET_ID,
    }),
    // This benchmark measures the function, not the organisation's limit: a budget that never binds.
    DFNS_REQUESTS_PER_MINUTE: String(UNBOUND_REQUESTS_PER_MINUTE),
  };
  say(`request budget: DFNS_REQUESTS_PER_MINUTE=${UNBOUND_REQUESTS_PER_MINUTE}, which never binds here (unthrottled)`);

  /** One full pass over fresh tokens at concurrency c in a fresh function process (a cold container). */
  const run = async (
    c: number,
    tokens: string[],
    target: { url: string; env: Record<string, string>; pid: number | undefined; authToken: string } = main,
  ) => {
    secrets.calls.length = 0;
    const events = [];
    for (let i = 0; i < tokens.length; i += PER_BATCH) {
      const slice = tokens.slice(i, i + PER_BATCH);
      events.push(
        sqsEvent(
          Array.from({ length: Math.ceil(slice.length / PER_RECORD) }, (_, r) => ({
            body: { tokenIds: slice.slice(r * PER_RECORD, (r + 1) * PER_RECORD), incidentId: 'BENCH' },
          })),
        ),
      );
    }
    const sandboxCpu0 = processCpuSeconds(target.pid);
    const fn = await runFunctionProcess(bundle, { ...target.env, MAX_CONCURRENCY: String(c) }, events);
    const sandboxCpu = processCpuSeconds(target.pid);
    // CONTRACT section 5: exactly one audit line per token. Fewer means output was lost: no figure from this run.
    if (fn.audit.length !== tokens.length)
      throw new Error(`the function logged ${fn.audit.length} audit lines for ${tokens.length} tokens`);
    warnings.push(...fn.warnings);
    const { seconds } = fn;
    const sorted = fn.audit.map((a) => a.latencyMs).sort((a, b) => a - b);
    const throughput = tokens.length / seconds;
    const ideal = c / ((3 * RTT) / 1000);
    const probe: ProbeTarget = { url: target.url, authToken: target.authToken, tokenId: first(tokens, 'token') };
    const measuredRtt = await measureRoundTrip(probe, c);
    const bound = batchShapeBound(PER_BATCH, c);
    const warmTokens = tokens.length - Math.min(PER_BATCH, tokens.length);
    return {
      concurrency: c,
      seconds: Number(seconds.toFixed(2)),
      tokensPerSecond: Number(throughput.toFixed(1)),
      idealTokensPerSecond: Number(ideal.toFixed(1)),
      percentOfIdeal: Number(((100 * throughput) / ideal).toFixed(1)),
      /** Mean round trip of a bare keep-alive GET to the sandbox at the same concurrency, ms. */
      measuredRttMs: Number(measuredRtt.toFixed(2)),
      percentOfIdealAtMeasuredRtt: Number(((100 * throughput) / (c / ((3 * measuredRtt) / 1000))).toFixed(1)),
      /** Most of the ideal one invocation of PER_BATCH tokens can reach at c (the wave tail). */
      batchShapeBoundPercent: Number((100 * bound).toFixed(1)),
      /** Throughput against the ideal at the nominal RTT times the batch-shape bound. */
      percentOfBatchShapeBound: Number(((100 * throughput) / (ideal * bound)).toFixed(1)),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      getSecretValueCalls: secrets.calls.length,
      /** The function process's peak resident memory (import included), MB. */
      peakRssMb: Number((fn.maxRssKb / 1024).toFixed(1)),
      /** The heap left after a full GC at the end, MB: it would grow with the invocations if they leaked. */
      liveHeapMb: fn.liveHeapMb === undefined ? null : Number(fn.liveHeapMb.toFixed(1)),
      /** CPU per token over all invocations, the first (JIT warm-up, first connections) included. */
      cpuMsPerToken: Number((fn.cpuMicros / 1000 / tokens.length).toFixed(3)),
      /** CPU per token of a warm container: every invocation but the first. */
      warmCpuMsPerToken:
        fn.warmCpuMicros === undefined || warmTokens === 0
          ? null
          : Number((fn.warmCpuMicros / 1000 / warmTokens).toFixed(3)),
      /** Share of one core the function process used during the run. */
      functionCoreShare: Number((fn.cpuMicros / 1e6 / seconds).toFixed(2)),
      /** Share of one core the sandbox process used (Linux only): near 1 means the sandbox, not the function, is the limit. */
      sandboxCoreShare:
        sandboxCpu !== undefined && sandboxCpu0 !== undefined
          ? Number(((sandboxCpu - sandboxCpu0) / seconds).toFixed(2))
          : null,
      deactivated: fn.audit.filter((a) => a.outcome === 'deactivated').length,
      retriedRecords: fn.retriedRecords,
    };
  };
  const main = { url: sandbox.url, env, pid: sandbox.child.pid, authToken: account.authToken };

  const runs = [];
  for (const [i, c] of CONCURRENCY.entries()) {
    say(`handler, MAX_CONCURRENCY=${c}, ${TOKENS} tokens, ${RTT} ms per request ...`);
    runs.push(await run(c, sandbox.tokens.slice(i * TOKENS, (i + 1) * TOKENS)));
  }

  say(`baseline: sequential official SDK over ${BASELINE_TOKENS} tokens ...`);
  const baselineTokens = sandbox.tokens.slice(CONCURRENCY.length * TOKENS);
  const sdk = new DfnsApiClient({
    baseUrl: sandbox.url,
    authToken: account.authToken,
    signer: new AsymmetricKeySigner({ credId: account.credId, privateKey: account.privateKey }),
  });
  const baseStart = performance.now();
  for (const tokenId of baselineTokens) await sdk.auth.deactivatePersonalAccessToken({ tokenId });
  const baseline = BASELINE_TOKENS / ((performance.now() - baseStart) / 1000);

  say('CPU per signature by key type ...');
  const signing: Record<string, number> = {};
  for (const [kind, bits] of [
    ['ed25519', 0],
    ['p256', 0],
    ['rsa', 3072],
  ] as Array<[KeyKind, number]>) {
    const key = SigningKey.fromPem(generateKey(kind, bits || 2048).privateKeyPem);
    const data = JSON.stringify({ type: 'key.get', challenge: 'x'.repeat(43) });
    const n = kind === 'rsa' ? 200 : 2000;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i += 1) key.sign(data);
    const cpu = process.cpuUsage(cpu0);
    signing[kind === 'rsa' ? 'rsa3072' : kind] = Number(((cpu.user + cpu.system) / n).toFixed(1));
  }

  say('module initialisation of the bundle with plain node (5 runs) ...');
  const inits: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const t=performance.now(); await import(${JSON.stringify(pathToFileURL(bundle).href)}); process.stdout.write(String(performance.now()-t));`,
      ],
      { env: { ...env, PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
    );
    inits.push(Number(child.stdout));
  }

  // The same batches with each key type, at the first concurrency and on the same number of tokens: each in a
  // sandbox of its own (a sandbox's key is fixed when it starts).
  const byKeyType: Record<
    string,
    {
      tokens: number;
      tokensPerSecond: number;
      percentOfIdeal: number;
      cpuMsPerToken: number;
      warmCpuMsPerToken: number | null;
    }
  > = {};
  const keyTokens = Math.max(2 * PER_BATCH, Math.floor(TOKENS / 4));
  for (const kind of ['ed25519', 'p256', 'rsa'] as const) {
    const name = { ed25519: 'Ed25519', p256: 'P-256', rsa: 'RSA-3072' }[kind];
    say(`handler with the ${name} key, MAX_CONCURRENCY=${CONCURRENCY[0]}, ${keyTokens} tokens ...`);
    const other = await startSandbox(keyTokens, kind);
    try {
      const secretId = `${SECRET_ID}-${kind}`;
      secrets.setSecret(secretId, JSON.stringify(other.secret));
      const otherEnv = { ...env, DFNS_API_URL: other.url, DFNS_CREDENTIALS_SECRET_ID: secretId };
      const r = await run(first(CONCURRENCY, 'concurrency'), other.tokens, {
        url: other.url,
        env: otherEnv,
        pid: other.child.pid,
        authToken: other.secret.authToken,
      });
      byKeyType[name] = {
        tokens: keyTokens,
        tokensPerSecond: r.tokensPerSecond,
        percentOfIdeal: r.percentOfIdeal,
        cpuMsPerToken: r.cpuMsPerToken,
        warmCpuMsPerToken: r.warmCpuMsPerToken,
      };
    } finally {
      other.child.kill('SIGTERM');
    }
  }

  say('CPU per request of this process: node:http (the client) against fetch ...');
  const transports = await compareTransports({
    url: sandbox.url,
    authToken: account.authToken,
    tokenId: first(sandbox.tokens, 'token'),
  });

  const headline = first(runs, 'run');
  const result = {
    machine: 'shared 2-core machine: ratios matter, absolute numbers do not',
    tokens: TOKENS,
    rttMs: RTT,
    idsPerRecord: PER_RECORD,
    tokensPerBatch: PER_BATCH,
    runs: runs.map((r) => ({ ...r, speedupOverBaseline: Number((r.tokensPerSecond / baseline).toFixed(1)) })),
    baseline: { tokens: BASELINE_TOKENS, tokensPerSecond: Number(baseline.toFixed(1)) },
    speedupOverBaseline: Number((headline.tokensPerSecond / baseline).toFixed(1)),
    cpuMicrosecondsPerSignature: signing,
    byKeyType,
    cpuMicrosecondsPerRequest: transports,
    bundle: { bytes: bundleBytes, kb: Number((bundleBytes / 1024).toFixed(1)), awsSdk: 'bundled (as deployed)' },
    initMsMedian: Number(median(inits).toFixed(1)),
    warnings,
  };

  if (options.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const rows: Array<[label: string, ...values: string[]]> = [
      ['MAX_CONCURRENCY', ...runs.map((r) => String(r.concurrency))],
      ['tokens/s', ...runs.map((r) => String(r.tokensPerSecond))],
      ['ideal c/(3×RTT)', ...runs.map((r) => String(r.idealTokensPerSecond))],
      ['% of ideal', ...runs.map((r) => `${r.percentOfIdeal} %`)],
      ['measured RTT, bare GET (ms)', ...runs.map((r) => String(r.measuredRttMs))],
      ['% of ideal at measured RTT', ...runs.map((r) => `${r.percentOfIdealAtMeasuredRtt} %`)],
      [`bound of ${PER_BATCH}-token batches`, ...runs.map((r) => `${r.batchShapeBoundPercent} %`)],
      ['% of that bound (nominal RTT)', ...runs.map((r) => `${r.percentOfBatchShapeBound} %`)],
      ['speed-up over baseline', ...runs.map((r) => `${(r.tokensPerSecond / baseline).toFixed(1)}x`)],
      ['p50 / p99 per token (ms)', ...runs.map((r) => `${r.p50Ms} / ${r.p99Ms}`)],
      ['GetSecretValue calls', ...runs.map((r) => String(r.getSecretValueCalls))],
      ['peak RSS, function process (MB)', ...runs.map((r) => String(r.peakRssMb))],
      ['CPU ms per token: all / warm', ...runs.map((r) => `${r.cpuMsPerToken} / ${r.warmCpuMsPerToken ?? '-'}`)],
      ['live heap after the run (MB)', ...runs.map((r) => String(r.liveHeapMb ?? '?'))],
      ['cores busy: function / sandbox', ...runs.map((r) => `${r.functionCoreShare} / ${r.sandboxCoreShare ?? '?'}`)],
      ['deactivated / records retried', ...runs.map((r) => `${r.deactivated} / ${r.retriedRecords}`)],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    process.stdout.write(
      `pat-revoker bench: ${TOKENS} tokens, ${RTT} ms per request, batches of 10 records × ${PER_RECORD} tokens, Ed25519\n`,
    );
    process.stdout.write(`(${result.machine})\n\n`);
    for (const [label, ...values] of rows) {
      process.stdout.write(`${label.padEnd(width)}  ${values.map((v) => v.padStart(16)).join('')}\n`);
    }
    process.stdout.write(
      `\nbaseline (sequential official @dfns/sdk, ${BASELINE_TOKENS} tokens): ${result.baseline.tokensPerSecond} tokens/s\n`,
    );
    process.stdout.write(
      `CPU per signature: Ed25519 ${signing.ed25519} µs, P-256 ${signing.p256} µs, RSA-3072 ${signing.rsa3072} µs\n`,
    );
    process.stdout.write(
      `by key type at MAX_CONCURRENCY=${CONCURRENCY[0]}, ${keyTokens} tokens each (tokens/s, % of ideal, CPU ms per token all / warm): ` +
        Object.entries(byKeyType)
          .map(
            ([k, v]) =>
              `${k} ${v.tokensPerSecond}, ${v.percentOfIdeal} %, ${v.cpuMsPerToken} / ${v.warmCpuMsPerToken ?? '-'}`,
          )
          .join('; ') +
        '\n',
    );
    process.stdout.write(
      `CPU per request in the caller: node:http ${transports.nodeHttp} µs, fetch ${transports.fetch} µs\n`,
    );
    process.stdout.write(
      `bundle: ${result.bundle.kb} KB minified, everything bundled (as deployed); init (plain node, median of 5): ${result.initMsMedian} ms\n`,
    );
    process.stdout.write(`process warnings: ${warnings.length === 0 ? 'none' : warnings.join('; ')}\n`);
  }
  process.stdout.write(
    `bench: ${headline.tokensPerSecond} tokens/s, ${headline.percentOfIdeal}% of ideal, ${result.speedupOverBaseline}x over baseline\n`,
  );
} finally {
  for (const child of sandboxes) child.kill('SIGTERM');
  await Promise.all([secrets.close(), sqs.close()]);
  rmSync(dir, { recursive: true, force: true });
}
