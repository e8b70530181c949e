/**
 * `npm run sandbox -- [--port 8787] [--tokens 5] [--key ed25519|p256|rsa] [--latency 0] [--credential-file f]
 *   [--rate-limit n] [--rate-window 60] [--retry-after seconds|http-date|none]`
 *
 * Runs the local Dfns sandbox until Ctrl-C, for rehearsals and manual checks. Exit codes: 0 after Ctrl-C,
 * 2 for bad arguments, 1 when the sandbox cannot start (e.g. the port is taken).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { argumentChecks, type ArgumentChecks } from '../args.js';
import { isRetryAfterFormat, RETRY_AFTER_FORMATS } from './rate-limit.js';
import { startRehearsal, usage } from './rehearsal.js';

const HELP = `Usage: npm run sandbox -- [options]

  --port <n>              TCP port on 127.0.0.1 (0: any free port)      default 8787
  --tokens <n>            active PATs to seed                            default 5
  --key <type>            service-account key: ed25519 | p256 | rsa      default ed25519
  --latency <ms>          latency added to every request                 default 0
  --credential-file <f>   write the credential JSON there (mode 600) instead of printing it
  --rate-limit <n>        the organisation's limit: requests per window, then 429   default off
  --rate-window <s>       the sliding window of the limit, seconds       default 60
  --retry-after <form>    Retry-After of a 429: seconds | http-date | none          default seconds
  -h, --help              this text`;

const cli: ArgumentChecks = argumentChecks('sandbox', HELP);

const args = cli.parse({
  port: { type: 'string', default: '8787' },
  tokens: { type: 'string', default: '5' },
  key: { type: 'string', default: 'ed25519' },
  latency: { type: 'string', default: '0' },
  'credential-file': { type: 'string' },
  'rate-limit': { type: 'string' },
  'rate-window': { type: 'string', default: '60' },
  'retry-after': { type: 'string', default: 'seconds' },
});
const key = args.key;
if (key !== 'ed25519' && key !== 'p256' && key !== 'rsa') cli.fail(`--key must be ed25519, p256 or rsa, got "${key}"`);

const retryAfter = args['retry-after'];
if (!isRetryAfterFormat(retryAfter)) {
  cli.fail(`--retry-after must be one of ${RETRY_AFTER_FORMATS.join(', ')}, got "${retryAfter}"`);
}
const rateLimit =
  args['rate-limit'] === undefined
    ? undefined
    : {
        limit: cli.integer('rate-limit', args['rate-limit'], 1, 1_000_000),
        windowMs: cli.integer('rate-window', args['rate-window'], 1, 3_600) * 1000,
        retryAfter,
      };

try {
  const rehearsal = await startRehearsal({
    ...(rateLimit ? { rateLimit } : {}),
    port: cli.integer('port', args.port, 0, 65_535),
    tokens: cli.integer('tokens', args.tokens, 0, 100_000),
    latencyMs: cli.integer('latency', args.latency, 0, 60_000),
    key,
  });
  const file = args['credential-file'];
  if (file) {
    writeFileSync(file, `${JSON.stringify(rehearsal.secret, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // `mode` applies only when the file is created
  }
  process.stdout.write(`${usage(rehearsal, file)}\n`);
  const stop = () => {
    void rehearsal.sandbox.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  const code = (error as { code?: string }).code;
  process.stderr.write(
    code === 'EADDRINUSE'
      ? `sandbox: port ${args.port} is taken; choose another with --port (0 picks a free one)\n`
      : `sandbox: could not start: ${(error as Error).message}\n`,
  );
  process.exit(1);
}
