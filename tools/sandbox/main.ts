/**
 * `npm run sandbox -- [options]` (`--help` for them): runs the local Dfns sandbox until Ctrl-C, for rehearsals and
 * manual checks. Exit codes: 0 after Ctrl-C (and `--help`, `--version`), 2 for bad arguments, 1 when the sandbox
 * cannot start (e.g. the port is taken).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { choice, integer, single, UsageError } from '../command-line.js';
import { parseOrExit, scriptProgram } from '../script-options.js';
import type { KeyKind } from './ids.js';
import { RETRY_AFTER_FORMATS, type RetryAfterFormat } from './rate-limit.js';
import { type RehearsalOptions, startRehearsal, usage } from './rehearsal.js';

/** The options as given: undefined where not given (the defaults are applied by {@link resolve}). */
interface Given {
  port?: number;
  tokens?: number;
  key?: KeyKind;
  latency?: number;
  credentialFile?: string;
  rateLimit?: number;
  rateWindow?: number;
  retryAfter?: RetryAfterFormat;
}

const program = scriptProgram(
  'sandbox',
  'npm run sandbox -- [options]',
  'Runs the local Dfns sandbox on 127.0.0.1 until Ctrl-C: a service account, its credential and seeded PATs.',
)
  .option('--port <n>', 'TCP port on 127.0.0.1 (0: any free port; default 8787)', integer(0, 65_535))
  .option('--tokens <n>', 'active PATs to seed (default 5)', integer(0, 100_000))
  .option(
    '--key <type>',
    'service-account key: ed25519 | p256 | rsa (3072 bits) (default ed25519)',
    choice<KeyKind>(['ed25519', 'p256', 'rsa']),
  )
  .option('--latency <ms>', 'latency added to every request (default 0)', integer(0, 60_000))
  .option('--credential-file <f>', 'write the credential JSON there (mode 600) instead of printing it', single)
  .option(
    '--rate-limit <n>',
    "the organisation's limit: requests per window, then 429 (default off)",
    integer(1, 1_000_000),
  )
  .option(
    '--rate-window <s>',
    'the sliding window of the limit, seconds (default 60; needs --rate-limit)',
    integer(1, 3_600),
  )
  .option(
    '--retry-after <form>',
    'Retry-After of a 429: seconds | http-date | none (default seconds; needs --rate-limit)',
    choice(RETRY_AFTER_FORMATS),
  )
  .addHelpText(
    'after',
    '\nExit codes: 0 after Ctrl-C or SIGTERM (and --help, --version); 1 the sandbox could not start (e.g. the port is taken);\n2 bad usage (nothing started).',
  );

/** The rehearsal the options ask for, defaults applied, and where to write the credential. */
function resolve(given: Given): { rehearsal: RehearsalOptions & { port: number }; credentialFile?: string } {
  // Without a limit nothing is refused: a window or a Retry-After form alone would be silently ignored.
  const shaping = [
    ['--rate-window', given.rateWindow],
    ['--retry-after', given.retryAfter],
  ].flatMap(([name, value]) => (value === undefined ? [] : [name]));
  if (given.rateLimit === undefined && shaping.length > 0) {
    const verb = shaping.length === 1 ? 'needs' : 'need';
    throw new UsageError(`${shaping.join(' and ')} ${verb} --rate-limit: without a limit nothing is refused`);
  }
  return {
    rehearsal: {
      port: given.port ?? 8787,
      tokens: given.tokens ?? 5,
      key: given.key ?? 'ed25519',
      latencyMs: given.latency ?? 0,
      ...(given.rateLimit === undefined
        ? {}
        : {
            rateLimit: {
              limit: given.rateLimit,
              windowMs: (given.rateWindow ?? 60) * 1000,
              retryAfter: given.retryAfter ?? 'seconds',
            },
          }),
    },
    ...(given.credentialFile === undefined ? {} : { credentialFile: given.credentialFile }),
  };
}

const { rehearsal: options, credentialFile: file } = await parseOrExit(program, resolve);
try {
  const rehearsal = await startRehearsal(options);
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
      ? `sandbox: port ${options.port} is taken; choose another with --port (0 picks a free one)\n`
      : `sandbox: could not start: ${(error as Error).message}\n`,
  );
  process.exit(1);
}
