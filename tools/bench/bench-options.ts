/**
 * The options of `npm run bench` (the function alone, unthrottled). `npm run bench -- --incident` is another
 * benchmark with options of its own (incident-options.ts); bench.ts dispatches before these are parsed, and
 * `--incident` is declared here only so that this help names it.
 */
import { integer, once, UsageError } from '../command-line.js';
import { parseOrExit, scriptProgram } from '../script-options.js';

/** The settings of a run, defaults applied. */
export interface BenchOptions {
  /** Tokens per concurrency. */
  tokens: number;
  /** Latency the sandbox adds to every request, ms: the RTT of the ideal. */
  latencyMs: number;
  /** MAX_CONCURRENCY values, a run each; the first one is the headline's. */
  concurrency: number[];
  /** Tokens of the sequential @dfns/sdk baseline (at most {@link tokens}). */
  baselineTokens: number;
  /** Token IDs per SQS record (10 records a batch). */
  idsPerRecord: number;
  /** The report as JSON. */
  json: boolean;
}

/** The options as given: undefined where not given. */
interface Given {
  tokens?: number;
  large?: true;
  latency?: number;
  concurrency?: number[];
  baseline?: number;
  idsPerRecord?: number;
  json?: true;
}

/** One sandbox seeds every token of the main runs and the baseline, and it seeds at most this many. */
const MAX_SEEDED = 100_000;

// The function's own limit: MAX_CONCURRENCY 1 to 256 (CONTRACT section 2).
const concurrencyValue = integer(1, 256);
/** A comma-separated list of MAX_CONCURRENCY values, each checked as `--concurrency` alone would be. */
const concurrencyList = once((value: string) => {
  return value.split(',').map((c) => concurrencyValue(c.trim(), undefined));
});

/** Defaults applied, and the one check between options: everything must fit in one sandbox. */
function resolve(given: Given): BenchOptions {
  const tokens = given.large ? 10_000 : (given.tokens ?? 2000);
  const concurrency = given.concurrency ?? [8, 32];
  const baselineTokens = Math.min(given.baseline ?? 200, tokens);
  const seeded = tokens * concurrency.length + baselineTokens;
  if (seeded > MAX_SEEDED) {
    throw new UsageError(
      `${given.large ? '--large (10 000 tokens)' : '--tokens'} × ${concurrency.length} concurrencies + the baseline must stay within ${MAX_SEEDED} tokens, got ${seeded}`,
    );
  }
  return {
    tokens,
    latencyMs: given.latency ?? 25,
    concurrency,
    baselineTokens,
    idsPerRecord: given.idsPerRecord ?? 10,
    json: given.json === true,
  };
}

/**
 * Reads the benchmark's options from `process.argv`; `--help`, `--version` and a usage error (exit 2, naming the
 * option) end the process.
 */
export function parseBenchOptions(): Promise<BenchOptions> {
  const program = scriptProgram(
    'bench',
    'npm run bench -- [options]',
    'Drives the bundled handler against the Dfns sandbox (a fixed latency per request) and compares it with the ideal ' +
      'c / (3 × RTT) and with a sequential @dfns/sdk baseline. The last line is always ' +
      '"bench: <T> tokens/s, <P>% of ideal, <X>x over baseline".',
  )
    .option('--tokens <n>', 'tokens per concurrency (default 2000)', integer(1, 100_000))
    .option('--large', '10 000 tokens per concurrency (overrides --tokens)')
    // The ideal c / (3 × RTT) needs a latency to be finite.
    .option('--latency <ms>', 'latency the sandbox adds to every request (default 25)', integer(1, 60_000))
    .option('--concurrency <list>', 'MAX_CONCURRENCY values, comma-separated (default 8,32)', concurrencyList)
    .option(
      '--baseline <n>',
      'tokens for the sequential @dfns/sdk baseline, at most --tokens (default 200)',
      integer(1, 100_000),
    )
    // At most 100 token IDs per record (CONTRACT section 4).
    .option('--ids-per-record <n>', 'token IDs per SQS record, 10 records a batch (default 10)', integer(1, 100))
    .option(
      '--json',
      "the report as JSON (the last line stays the bench: line; use npm run -s so that npm's banner stays out of stdout)",
    )
    .option('--incident', 'the incident benchmark instead (--incident --help for its options)');
  return parseOrExit(program, resolve);
}
