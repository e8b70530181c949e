/**
 * The function's configuration: the environment variables of CONTRACT section 2, validated once.
 *
 * This is the only module that reads `process.env`. A missing or malformed variable fails at start-up with an
 * error naming the variable and the rule, so a bad deployment shows up on the first invocation, not as a silent
 * misbehaviour during an incident.
 */
import * as z from 'zod';
import { LOOPBACK_HOSTS, parseDfnsOrigin, TOKEN_ID_PATTERN } from './dfns/client.js';

/** The validated configuration. Durations in ms. */
export interface Config {
  /** `DFNS_API_URL`: Dfns API origin (https, or http on loopback only). */
  dfnsApiUrl: string;
  /** `DFNS_CREDENTIALS_SECRET_ID`: secret name or ARN of the service-account credential. */
  credentialsSecretId: string;
  /** `DEAD_LETTER_QUEUE_URL`: where permanent failures are sent. */
  deadLetterQueueUrl: string;
  /** `PROTECTED_TOKEN_IDS`: token IDs never to deactivate. */
  protectedTokenIds: ReadonlySet<string>;
  /** `DRY_RUN`: validate and log only. @default false */
  dryRun: boolean;
  /** `MAX_CONCURRENCY`: deactivations in flight per invocation. @default 8 */
  maxConcurrency: number;
  /** `DFNS_REQUEST_TIMEOUT_MS`: timeout of one HTTP request to Dfns, ms. @default 10000 */
  dfnsRequestTimeoutMs: number;
  /** `DFNS_MAX_ATTEMPTS`: attempts of the whole signing flow per token per invocation. @default 3 */
  dfnsMaxAttempts: number;
  /** `DEADLINE_MARGIN_MS`: stop starting work with less than this left before the deadline, ms. @default 5000 */
  deadlineMarginMs: number;
  /** `MAX_RECEIVE_COUNT`: the queue's maxReceiveCount, when the function should dead-letter on the last receive. */
  maxReceiveCount?: number;
  /** `POWERTOOLS_SERVICE_NAME`. @default 'pat-revoker' */
  serviceName: string;
  /** `POWERTOOLS_METRICS_NAMESPACE`. @default 'PatRevoker' */
  metricsNamespace: string;
  /** `AWS_LAMBDA_LOG_LEVEL`, upper case: Lambda's application log level (advanced logging controls), when set. */
  lambdaLogLevel?: string;
  /** `DFNS_REQUESTS_PER_MINUTE`: this deployment's share of the organisation's Dfns limit. @default 600 */
  dfnsRequestsPerMinute: number;
  /** `EVENT_SOURCE_MAX_CONCURRENCY`: invocations that may run at once. @default 1 */
  eventSourceMaxConcurrency: number;
  /** `DFNS_BUDGET_WINDOW_SECONDS`, in ms: the window the budget is counted over. @default 60000 */
  dfnsBudgetWindowMs: number;
  /** `SOURCE_QUEUE_URLS`: the queues whose records this function handles (empty when unset). */
  sourceQueues: SourceQueue[];
  /** `FUNCTION_ROLE_ID`: the unique ID (`AROA…`) of the function's own role, the `SenderId` of its continuations. */
  functionRoleId?: string;
}

/** One queue of `SOURCE_QUEUE_URLS`. */
export interface SourceQueue {
  url: string;
  /** The account and queue name (the URL's last two path segments), as in the records' `eventSourceARN`. */
  account: string;
  name: string;
}

/** Requests one token costs at Dfns: init, action, PUT (CONTRACT section 8). */
export const REQUESTS_PER_TOKEN = 3;

/** SQS' own hosts (commercial, China and FIPS endpoints, legacy and current forms). */
const SQS_HOST = /^(?:sqs(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?|[a-z0-9-]+\.queue\.amazonaws\.com(?:\.cn)?)$/;
/** A queue URL's path: `/<12-digit account>/<queue name>`. */
const QUEUE_PATH = /^\/(\d{12})\/([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/;

/**
 * Reads one queue URL of `SOURCE_QUEUE_URLS`: `https://` on an SQS host, or plain `http://` on loopback.
 *
 * @returns the queue, or the rule it broke
 */
export function parseQueueUrl(value: string): SourceQueue | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value.slice(0, 200)}" is not a URL`;
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (!(url.protocol === 'https:' && SQS_HOST.test(url.hostname)) && !(url.protocol === 'http:' && loopback)) {
    return `"${value.slice(0, 200)}" must be https:// on an SQS host (or http:// on loopback)`;
  }
  const match = QUEUE_PATH.exec(url.pathname);
  if (!match || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return `"${value.slice(0, 200)}" must be a queue URL ending in /<account>/<queue name>`;
  }
  if (match[2]?.endsWith('.fifo')) {
    return `"${value.slice(0, 200)}" is a FIFO queue: continuations need a standard queue (FIFO takes no per-message delay)`;
  }
  return { url: url.href, account: match[1] as string, name: match[2] as string };
}

/** A configuration variable is missing or malformed; `variable` names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The environment variable at fault. */
    readonly variable: string,
    rule: string,
  ) {
    super(`${variable}: ${rule}`);
  }
}

/** The smallest deadline margin, ms: the dead-letter sends and the answer to Lambda happen in the margin. */
export const MIN_DEADLINE_MARGIN_MS = 1_000;

const required = (rule: string) =>
  z
    .string({ error: `is required (${rule})` })
    .trim()
    .min(1, `is required (${rule})`);

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .transform((n) => n ?? fallback);

const schema = z.object({
  DFNS_API_URL: required('the Dfns API origin, e.g. https://api.dfns.io').superRefine((value, ctx) => {
    try {
      parseDfnsOrigin(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^Dfns API URL /, '') });
    }
  }),
  DFNS_CREDENTIALS_SECRET_ID: required('the Secrets Manager secret name or ARN of the service-account credential'),
  // Dead letters hold what a human needs to act on: only to an SQS host (or loopback), never to any URL.
  DEAD_LETTER_QUEUE_URL: required('the URL of the dead-letter queue').superRefine((value, ctx) => {
    const queue = parseQueueUrl(value);
    if (typeof queue === 'string') {
      ctx.addIssue({
        code: 'custom',
        message: `${queue}, such as https://sqs.eu-west-1.amazonaws.com/123456789012/pat-revoker-dlq`,
      });
    }
  }),
  PROTECTED_TOKEN_IDS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const ids = (value ?? '')
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== '');
      // A typo here would leave a break-glass token unprotected: refuse rather than ignore.
      const bad = ids.filter((id) => !TOKEN_ID_PATTERN.test(id));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `${bad.length} entr${bad.length === 1 ? 'y does' : 'ies do'} not match ${TOKEN_ID_PATTERN.source}: ${bad.map((id) => JSON.stringify(id)).join(', ')}`,
        });
        return z.NEVER;
      }
      return new Set(ids) as ReadonlySet<string>;
    }),
  DRY_RUN: z
    .string()
    .trim()
    .toLowerCase()
    .refine((value) => value === 'true' || value === 'false', 'must be true or false')
    .optional()
    .transform((value) => value === 'true'),
  MAX_CONCURRENCY: integer(8, 1, 256),
  DFNS_REQUEST_TIMEOUT_MS: integer(10_000, 100, 900_000),
  DFNS_MAX_ATTEMPTS: integer(3, 1, 10),
  DEADLINE_MARGIN_MS: integer(5_000, MIN_DEADLINE_MARGIN_MS, 900_000),
  MAX_RECEIVE_COUNT: z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number from 1 to 1000 (the queue maxReceiveCount)')
    .transform(Number)
    .pipe(z.number().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
    .optional(),
  POWERTOOLS_SERVICE_NAME: z.string().trim().min(1).optional(),
  POWERTOOLS_METRICS_NAMESPACE: z.string().trim().min(1).optional(),
  AWS_LAMBDA_LOG_LEVEL: z.string().trim().toUpperCase().optional(),
  FUNCTION_ROLE_ID: z
    .string()
    .trim()
    .regex(/^[A-Z0-9]{16,128}$/, "must be an IAM unique ID (the role's RoleId, AROA…)")
    .optional(),
  DFNS_REQUESTS_PER_MINUTE: integer(600, REQUESTS_PER_TOKEN, 1_000_000),
  EVENT_SOURCE_MAX_CONCURRENCY: integer(1, 1, 1000),
  DFNS_BUDGET_WINDOW_SECONDS: integer(60, 1, 60),
  SOURCE_QUEUE_URLS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const queues: SourceQueue[] = [];
      for (const entry of (value ?? '').split(',').map((url) => url.trim())) {
        if (entry === '') continue;
        const queue = parseQueueUrl(entry);
        if (typeof queue === 'string') {
          ctx.addIssue({ code: 'custom', message: queue });
          return z.NEVER;
        }
        queues.push(queue);
      }
      return queues;
    }),
});

/**
 * Validates an environment.
 *
 * @param env variables by name, e.g. `process.env`
 * @throws {ConfigError} for the first missing or malformed variable, naming it and the rule it broke
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // Unset and empty optional variables both mean "use the default".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const v = result.data;
  if (v.DFNS_REQUESTS_PER_MINUTE < REQUESTS_PER_TOKEN * v.EVENT_SOURCE_MAX_CONCURRENCY) {
    throw new ConfigError(
      'DFNS_REQUESTS_PER_MINUTE',
      `must be at least ${REQUESTS_PER_TOKEN} × EVENT_SOURCE_MAX_CONCURRENCY (${v.EVENT_SOURCE_MAX_CONCURRENCY}) = ` +
        `${REQUESTS_PER_TOKEN * v.EVENT_SOURCE_MAX_CONCURRENCY}: each container's share must hold one token's requests`,
    );
  }
  return {
    dfnsApiUrl: new URL(v.DFNS_API_URL).origin,
    credentialsSecretId: v.DFNS_CREDENTIALS_SECRET_ID,
    deadLetterQueueUrl: v.DEAD_LETTER_QUEUE_URL,
    protectedTokenIds: v.PROTECTED_TOKEN_IDS,
    dryRun: v.DRY_RUN,
    maxConcurrency: v.MAX_CONCURRENCY,
    dfnsRequestTimeoutMs: v.DFNS_REQUEST_TIMEOUT_MS,
    dfnsMaxAttempts: v.DFNS_MAX_ATTEMPTS,
    deadlineMarginMs: v.DEADLINE_MARGIN_MS,
    ...(v.MAX_RECEIVE_COUNT === undefined ? {} : { maxReceiveCount: v.MAX_RECEIVE_COUNT }),
    serviceName: v.POWERTOOLS_SERVICE_NAME ?? 'pat-revoker',
    metricsNamespace: v.POWERTOOLS_METRICS_NAMESPACE ?? 'PatRevoker',
    ...(v.AWS_LAMBDA_LOG_LEVEL === undefined ? {} : { lambdaLogLevel: v.AWS_LAMBDA_LOG_LEVEL }),
    dfnsRequestsPerMinute: v.DFNS_REQUESTS_PER_MINUTE,
    eventSourceMaxConcurrency: v.EVENT_SOURCE_MAX_CONCURRENCY,
    dfnsBudgetWindowMs: v.DFNS_BUDGET_WINDOW_SECONDS * 1000,
    sourceQueues: v.SOURCE_QUEUE_URLS,
    ...(v.FUNCTION_ROLE_ID === undefined ? {} : { functionRoleId: v.FUNCTION_ROLE_ID }),
  };
}

/** The process environment, validated (see {@link parseConfig}). @throws {ConfigError} */
export function loadConfig(): Config {
  return parseConfig(process.env);
}
