/**
 * The options of `npm run bench -- --incident` and the settings they give the loop on one machine, on a faster
 * clock: every rate × `--scale`, every window and time ÷ `--scale`, so that an incident of a few thousand tokens runs
 * in one to three minutes. Ratios to the ideal do not depend on the scale as long as every time scales; the ones that
 * cannot (whole seconds of SQS delays and `Retry-After`, the 1 s floor of the deadline margin, process start-up) are
 * listed in {@link IncidentSettings.unscaled} and printed with the report.
 */
import { ENVIRONMENT_NAMES, ENVIRONMENTS, resolveSettings, type EnvironmentName } from '../../infra/environments.js';
import { choice, type Command, InvalidArgumentError, integer, Option, once, UsageError } from '../command-line.js';
import { parseOrExit, scriptProgram } from '../script-options.js';

/** The options as given (rates per real minute). */
export interface IncidentOptions {
  environment: EnvironmentName;
  tokens: number;
  perRequest: number;
  containers: number;
  budget: number;
  orgLimit: number;
  orgTraffic: number;
  scale: number;
  latencyMs: number;
  idleTokens: number;
}

/** What the options make of the loop: the options, and the times and rates on the scaled clock. */
export interface IncidentSettings extends IncidentOptions {
  /** The budget's and the sandbox's window, s (60 ÷ scale; also `DFNS_BUDGET_WINDOW_SECONDS`). */
  windowSeconds: number;
  /** `DFNS_REQUESTS_PER_MINUTE` on the scaled clock: the budget × scale. */
  scaledRequestsPerMinute: number;
  /** Times of the loop on the scaled clock, ms (visibility timeout in s). */
  functionTimeoutMs: number;
  deadlineMarginMs: number;
  requestTimeoutMs: number;
  batchingWindowMs: number;
  visibilityTimeoutSeconds: number;
  /** The function's variables that the environment's settings fix and the scale changes. */
  functionEnv: Record<string, string>;
  /** What does not scale, one sentence each: where the scaled run differs from the real one. */
  unscaled: string[];
}

/** Windows that are whole seconds: the function reads `DFNS_BUDGET_WINDOW_SECONDS` as an integer from 1 to 60. */
const SCALES = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];

/** Containers at once: each is a process on this machine. */
const MAX_CONTAINERS = 32;

/** The options as given: undefined where not given. */
type Given = Partial<Omit<IncidentOptions, 'latencyMs'>> & { latency?: number };

/** `--scale`: one of {@link SCALES}, given once. */
const scaleValue = once((value: string) => {
  const scale = Number(value);
  if (!/^\d+$/.test(value) || !SCALES.includes(scale)) {
    throw new InvalidArgumentError(`must be one of ${SCALES.join(', ')} (60/x whole seconds), got "${value}"`);
  }
  return scale;
});

/** The incident benchmark's command line; `--incident` itself is what bench.ts dispatches on. */
function incidentProgram(): Command {
  return (
    scriptProgram(
      'bench',
      'npm run bench -- --incident [options]',
      "The incident benchmark: the whole loop on one machine (loopback SQS, the emulated event source running the bundled handler in k container processes, the Dfns sandbox enforcing the organisation's limit) with the organisation's own traffic beside it. Rates are in real minutes; the run goes --scale times faster.",
    )
      .addOption(new Option('--incident').hideHelp())
      // One sandbox seeds every token, at most 100 000; a few thousand is what one to three minutes hold.
      .option('--tokens <n>', 'tokens of the incident (default 3000)', integer(1, 50_000))
      .option('--per-request <n>', 'token IDs per request (SQS message; default 100)', integer(1, 100))
      .option(
        '--containers <k>',
        "containers at once (EVENT_SOURCE_MAX_CONCURRENCY; default the environment's)",
        integer(1, MAX_CONTAINERS),
      )
      .option('--environment <name>', 'settings of dev, staging or prod (default prod)', choice(ENVIRONMENT_NAMES))
      .option(
        '--budget <rpm>',
        "DFNS_REQUESTS_PER_MINUTE, real minutes (default the environment's)",
        integer(3, 100_000),
      )
      .option('--org-limit <rpm>', "the organisation's Dfns limit (default the environment's)", integer(3, 100_000))
      .option(
        '--org-traffic <rpm>',
        "the organisation's own requests per minute (default ¾ of what the budget leaves; prod: 300)",
        integer(0, 100_000),
      )
      .option(
        '--scale <x>',
        `the clock runs x times faster; 60/x must be a whole number of seconds: ${SCALES.join(', ')} (default 10)`,
        scaleValue,
      )
      .option('--latency <ms>', "the sandbox's latency per request, scaled time (default 10)", integer(0, 10_000))
      .option('--idle-tokens <n>', 'the one request on an idle deployment (default 100)', integer(1, 100))
  );
}

/** A range known only after parsing, and why it is that range. */
interface Bound {
  min: number;
  max: number;
  why: string;
}

/**
 * `given`, or `fallback` when not given, within a bound that depends on other options or on the environment (so
 * that commander's parse could not check it).
 *
 * @throws UsageError naming `option`, `why` the bound, and whether the value was its default
 */
function within(option: string, given: number | undefined, fallback: number, bound: Bound): number {
  const value = given ?? fallback;
  if (value < bound.min || value > bound.max) {
    throw new UsageError(
      `${option} must be a whole number from ${bound.min} to ${bound.max} (${bound.why}), got ${value}${given === undefined ? ' (its default)' : ''}`,
    );
  }
  return value;
}
/**
 * Reads the incident options from `process.argv` (exit 2 naming a bad one, as the other benchmark does; 0 after
 * `--help`) and scales the environment's settings.
 */
export function parseIncidentOptions(): Promise<IncidentSettings> {
  return parseOrExit(incidentProgram(), resolveIncident);
}

/** The options given, the environment's defaults and the checks between them: the settings of the run. */
function resolveIncident(given: Given): IncidentSettings {
  const environment = given.environment ?? 'prod';
  const settings = resolveSettings(environment, ENVIRONMENTS[environment]);
  const orgLimit = given.orgLimit ?? settings.dfnsOrganisationRequestsPerMinute;
  // The environment's own count is checked as a given one would be: each container is a process on this machine.
  const containers = within('--containers', given.containers, settings.eventSourceMaxConcurrency, {
    min: 1,
    max: MAX_CONTAINERS,
    why: 'each is a process on this machine',
  });
  const budget = within('--budget', given.budget, settings.dfnsRequestsPerMinute, {
    min: 3,
    max: orgLimit,
    why: 'at most --org-limit',
  });
  // The function refuses a budget that cannot give every container one token's three requests (CONTRACT section 8).
  if (budget < 3 * containers)
    throw new UsageError(`--budget must be at least 3 × --containers (${3 * containers}), got ${budget}`);
  // By default the organisation uses most of what the revoker's budget leaves it, with room for the budget's worst
  // case (CONTRACT section 8: a container started within a window brings a fresh share).
  const orgTraffic = within('--org-traffic', given.orgTraffic, Math.floor(((orgLimit - budget) * 3) / 4), {
    min: 0,
    max: orgLimit,
    why: 'at most --org-limit',
  });
  const scale = given.scale ?? 10;
  const options: IncidentOptions = {
    environment,
    tokens: given.tokens ?? 3000,
    perRequest: given.perRequest ?? 100,
    containers,
    budget,
    orgLimit,
    orgTraffic,
    scale,
    latencyMs: given.latency ?? 10,
    idleTokens: given.idleTokens ?? 100,
  };

  // Every time of the environment ÷ scale. The margin has a floor of 1 s (the dead-letter sends happen in it), and
  // the function needs some time beyond it to work at all: at least three margins.
  const deadlineMarginMs = Math.max(1_000, Math.round(settings.deadlineMarginMs / scale));
  const functionTimeoutMs = Math.max(
    Math.round((settings.functionTimeoutSeconds * 1000) / scale),
    3 * deadlineMarginMs,
  );
  const requestTimeoutMs = Math.max(100, Math.round(settings.dfnsRequestTimeoutMs / scale));
  const windowSeconds = 60 / scale;
  const unscaled = [
    'SQS delays (continuations) are whole seconds, rounded down (the invocation waits out the rest) and Retry-After ' +
      `whole seconds: a second on the scaled clock is ${scale} s on the real clock`,
    'container start-up, polling and the machine’s CPU run on the real clock',
  ];
  if (deadlineMarginMs * scale !== settings.deadlineMarginMs) {
    unscaled.push(
      `the deadline margin stays at its floor of ${deadlineMarginMs} ms (${(deadlineMarginMs * scale) / 1000} s real, deployed ${settings.deadlineMarginMs / 1000} s)`,
    );
  }
  if (functionTimeoutMs * scale !== settings.functionTimeoutSeconds * 1000) {
    unscaled.push(
      `the function timeout is ${functionTimeoutMs} ms (${(functionTimeoutMs * scale) / 1000} s real, deployed ${settings.functionTimeoutSeconds} s)`,
    );
  }
  // A token that has to wait starts only with one request timeout (at most 1 s) left before the deadline.
  if (Math.min(requestTimeoutMs, 1000) * scale !== Math.min(settings.dfnsRequestTimeoutMs, 1000)) {
    unscaled.push(
      `a token that waited starts only with min(request timeout, 1 s) = ${Math.min(requestTimeoutMs, 1000)} ms left before the deadline (${(Math.min(requestTimeoutMs, 1000) * scale) / 1000} s real, deployed 1 s)`,
    );
  }
  return {
    ...options,
    windowSeconds,
    scaledRequestsPerMinute: budget * scale,
    functionTimeoutMs,
    deadlineMarginMs,
    requestTimeoutMs,
    batchingWindowMs: Math.round((settings.batchingWindowSeconds * 1000) / scale),
    visibilityTimeoutSeconds: Math.max(
      Math.ceil(settings.visibilityTimeoutSeconds / scale),
      Math.ceil(functionTimeoutMs / 1000) + 1,
    ),
    functionEnv: {
      DEADLINE_MARGIN_MS: String(deadlineMarginMs),
      DFNS_REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
    },
    unscaled,
  };
}
