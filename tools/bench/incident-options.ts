/**
 * The options of `npm run bench -- --incident` and the settings they give the loop on one machine, on a faster
 * clock: every rate × `--scale`, every window and time ÷ `--scale`, so that an incident of a few thousand tokens runs
 * in one to three minutes. Ratios to the ideal do not depend on the scale as long as every time scales; the ones that
 * cannot (whole seconds of SQS delays and `Retry-After`, the 1 s floor of the deadline margin, process start-up) are
 * listed in {@link IncidentSettings.unscaled} and printed with the report.
 */
import { ENVIRONMENT_NAMES, ENVIRONMENTS, resolveSettings, type EnvironmentName } from '../../infra/environments.js';
import { argumentChecks } from '../args.js';

export const INCIDENT_HELP = `Usage: npm run bench -- --incident [options]

The incident benchmark: the whole loop on one machine (loopback SQS, the emulated event source running the bundled
handler in k container processes, the Dfns sandbox enforcing the organisation's limit) with the organisation's own
traffic beside it. Rates are in real minutes; the run goes --scale times faster.

  --tokens <n>            tokens of the incident                            default 3000
  --per-request <n>       token IDs per request (SQS message)               default 100
  --containers <k>        containers at once (EVENT_SOURCE_MAX_CONCURRENCY) default the environment's
  --environment <name>    settings of dev, staging or prod                  default prod
  --budget <rpm>          DFNS_REQUESTS_PER_MINUTE, real minutes            default the environment's
  --org-limit <rpm>       the organisation's Dfns limit                     default the environment's
  --org-traffic <rpm>     the organisation's own requests per minute        default ¾ of what the
                                                                            budget leaves (prod: 300)
  --scale <x>             the clock runs x times faster: 60/x must be a whole number of seconds
                          (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)        default 10
  --latency <ms>          the sandbox's latency per request (scaled time)   default 10
  --idle-tokens <n>       the one request on an idle deployment             default 100
  -h, --help              this text`;

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

/**
 * Reads the incident options from `process.argv` (exit 2 naming a bad one, as the other benchmark does) and scales
 * the environment's settings.
 */
export function parseIncidentOptions(): IncidentSettings {
  const cli = argumentChecks('bench', INCIDENT_HELP);
  const values = cli.parse({
    incident: { type: 'boolean', default: false },
    tokens: { type: 'string', default: '3000' },
    'per-request': { type: 'string', default: '100' },
    containers: { type: 'string' },
    environment: { type: 'string', default: 'prod' },
    budget: { type: 'string' },
    'org-limit': { type: 'string' },
    'org-traffic': { type: 'string' },
    scale: { type: 'string', default: '10' },
    latency: { type: 'string', default: '10' },
    'idle-tokens': { type: 'string', default: '100' },
  });
  // The options that need no environment first: a bad one is named even while the environments' settings are not.
  const scale = cli.integer('scale', values.scale, 1, 60);
  if (!SCALES.includes(scale))
    cli.fail(`--scale must be one of ${SCALES.join(', ')} (60/x whole seconds), got "${scale}"`);
  // One sandbox seeds every token, at most 100 000; a few thousand is what one to three minutes hold.
  const tokens = cli.integer('tokens', values.tokens, 1, 50_000);
  const perRequest = cli.integer('per-request', values['per-request'], 1, 100);
  const latencyMs = cli.integer('latency', values.latency, 0, 10_000);
  const idleTokens = cli.integer('idle-tokens', values['idle-tokens'], 1, 100);
  const environment = values.environment as EnvironmentName;
  if (!ENVIRONMENT_NAMES.includes(environment)) {
    cli.fail(`--environment must be one of ${ENVIRONMENT_NAMES.join(', ')}, got "${values.environment}"`);
  }
  const settings = resolveSettings(environment, ENVIRONMENTS[environment]);
  const orgLimit = cli.integer(
    'org-limit',
    values['org-limit'] ?? String(settings.dfnsOrganisationRequestsPerMinute),
    3,
    100_000,
  );
  const containers = cli.integer('containers', values.containers ?? String(settings.eventSourceMaxConcurrency), 1, 32);
  const budget = cli.integer('budget', values.budget ?? String(settings.dfnsRequestsPerMinute), 3, orgLimit);
  // The function refuses a budget that cannot give every container one token's three requests (CONTRACT section 8).
  if (budget < 3 * containers)
    cli.fail(`--budget must be at least 3 × --containers (${3 * containers}), got ${budget}`);
  // By default the organisation uses most of what the revoker's budget leaves it, with room for the budget's worst
  // case (CONTRACT section 8: a container started within a window brings a fresh share).
  const orgTraffic = cli.integer(
    'org-traffic',
    values['org-traffic'] ?? String(Math.floor(((orgLimit - budget) * 3) / 4)),
    0,
    orgLimit,
  );
  const options: IncidentOptions = {
    environment,
    tokens,
    perRequest,
    containers,
    budget,
    orgLimit,
    orgTraffic,
    scale,
    latencyMs,
    idleTokens,
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
