/**
 * `npm run sandbox -- [--port 8787] [--tokens 5] [--key ed25519|p256|rsa] [--latency 0] [--credential-file f]`
 *
 * Runs the local Dfns sandbox until Ctrl-C, for rehearsals and manual checks. Exit codes: 0 after Ctrl-C,
 * 2 for bad arguments, 1 when the sandbox cannot start (e.g. the port is taken).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { argumentChecks, type ArgumentChecks } from '../args.js';
import { startRehearsal, usage } from './rehearsal.js';

const HELP = `Usage: npm run sandbox -- [options]

  --port <n>              TCP port on 127.0.0.1 (0: any free port)      default 8787
  --tokens <n>            active PATs to seed                            default 5
  --key <type>            service-account key: ed25519 | p256 | rsa      default ed25519
  --latency <ms>          latency added to every request                 default 0
  --credential-file <f>   write the credential JSON there (mode 600) instead of printing it
  -h, --help              this text`;

const cli: ArgumentChecks = argumentChecks('sandbox', HELP);

const args = cli.parse({
  port: { type: 'string', default: '8787' },
  tokens: { type: 'string', default: '5' },
  key: { type: 'string', default: 'ed25519' },
  latency: { type: 'string', default: '0' },
  'credential-file': { type: 'string' },
});
const key = args.key;
if (key !== 'ed25519' && key !== 'p256' && key !== 'rsa') cli.fail(`--key must be ed25519, p256 or rsa, got "${key}"`);

try {
  const rehearsal = await startRehearsal({
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
