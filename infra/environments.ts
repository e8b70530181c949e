/**
 * Per-environment settings of the revocation stack: their schema, defaults and checks, validated at synth time.
 *
 * Edit `ENVIRONMENTS` (environment-values.ts) for your accounts. Every value is checked when the app synthesizes; a bad one fails
 * synth with `SettingsError: <env>.<setting>: <rule>`, before anything reaches CloudFormation.
 */
import * as z from 'zod';
import { REQUESTS_PER_TOKEN } from '../functions/lib/config.js';
import { parseDfnsOrigin, TOKEN_ID_PATTERN } from '../functions/lib/dfns/client.js';
import { REQUEST_RETENTION_DAYS } from './constructs/revocation-queue.js';
import { checkEnvironmentSize, checkOrganisationBudgets } from './environment-fit.js';
import { ENVIRONMENTS } from './environment-values.js';
import { SettingsError } from './settings-error.js';

export { checkOrganisationBudgets, deployedEnvironment, requestQueueName } from './environment-fit.js';
export { ENVIRONMENTS } from './environment-values.js';
export { SettingsError } from './settings-error.js';

/** The environments this app deploys. */
export const ENVIRONMENT_NAMES = ['dev', 'staging', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENT_NAMES)[number];

const ARN = {
  role: /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/,
  snsTopic: /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$/,
  eventBridgeRule: /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:rule\/[\w.\-/]+$/,
  // A complete secret ARN ends in the 6 random characters Secrets Manager appends: grants on it are exact.
  secret: /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/,
  kmsKey: /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/(?:[a-f0-9-]{36}|mrk-[a-f0-9]{32})$/,
};

/** CloudWatch Logs retention values, in days. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * Dfns' request limits per organisation, per minute, every caller together (its own wallets, apps and dashboards,
 * and every revoker environment on it): a paid organisation, a Trial one (CONTRACT section 8).
 */
export const DFNS_ORGANISATION_LIMITS = [1000, 100] as const;

/**
 * Requests one container may send within one invocation once the budget is in use: its share of the budget per
 * minute (`dfnsRequestsPerMinute ÷ eventSourceMaxConcurrency`) over the time an invocation works
 * (`functionTimeoutSeconds − deadlineMarginMs`). Divided by 3 (a token's requests), the tokens an invocation can
 * start; what it receives beyond that goes on in continuations.
 */
export function invocationShare(
  s: Pick<
    EnvironmentSettings,
    'dfnsRequestsPerMinute' | 'eventSourceMaxConcurrency' | 'functionTimeoutSeconds' | 'deadlineMarginMs'
  >,
): number {
  return (
    (s.dfnsRequestsPerMinute / s.eventSourceMaxConcurrency) *
    ((s.functionTimeoutSeconds * 1000 - s.deadlineMarginMs) / 60_000)
  );
}

const arnList = (pattern: RegExp, example: string) =>
  z.array(z.string().regex(pattern, `must be an ARN like ${example}`)).default([]);

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

/** The settings of one environment, with their defaults. */
const settingsSchema = z
  // strict: a misspelt setting (memorySize for memoryMb) must fail, not fall back to the default silently.
  .strictObject({
    /** AWS account; omit account and region for an environment-agnostic stack. */
    account: z
      .string()
      .regex(/^\d{12}$/, 'must be a 12-digit AWS account ID')
      .optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1')
      .optional(),
    /** Dfns API origin (CONTRACT section 2, `DFNS_API_URL`). */
    dfnsApiUrl: z.string().superRefine((value, ctx) => {
      try {
        if (!value.startsWith('https://')) throw new TypeError('must use https://');
        parseDfnsOrigin(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^Dfns API URL /, '') });
      }
    }),
    /** Complete ARN of the credential secret (CONTRACT section 3), including its 6-character suffix. */
    credentialSecretArn: z
      .string()
      .regex(ARN.secret, 'must be the complete secret ARN, ending in -XXXXXX (the 6 characters Secrets Manager adds)'),
    /** ARN of the customer-managed KMS key encrypting that secret. @default none (the AWS-managed key) */
    credentialSecretKmsKeyArn: z
      .string()
      .regex(ARN.kmsKey, 'must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)')
      .optional(),
    /** Who may send revocation requests besides the operators. */
    allowedSenders: z.strictObject({
      /** IAM roles of SIEM forwarders and playbook runners. @default [] */
      roleArns: arnList(ARN.role, 'arn:aws:iam::123456789012:role/siem-forwarder'),
      /** SNS topics that forward alerts (raw message delivery on until the SNS envelope is supported). @default [] */
      snsTopicArns: arnList(ARN.snsTopic, 'arn:aws:sns:eu-west-1:123456789012:security-alerts'),
      /** EventBridge rules that forward alerts. @default [] */
      eventBridgeRuleArns: arnList(ARN.eventBridgeRule, 'arn:aws:events:eu-west-1:123456789012:rule/leaked-pat'),
    }),
    /**
     * IAM roles of the operators who inspect and redrive the DLQ and enqueue by hand (the CLI). They may send to the
     * request queue (a redrive sends as the caller) and receive, delete and move messages of the DLQ. At least one.
     */
    operatorRoleArns: z
      .array(z.string().regex(ARN.role, 'must be an ARN like arn:aws:iam::123456789012:role/security-operator'))
      .min(1, 'needs at least one role: someone must be able to redrive the DLQ'),
    /**
     * The break-glass role: the one principal besides the function and the deployment that may consume, purge or
     * reconfigure the queues and read the credential. Its use should itself page (account-level guard).
     */
    breakGlassRoleArn: z.string().regex(ARN.role, 'must be an ARN like arn:aws:iam::123456789012:role/break-glass'),
    /** Role of the credential secret's rotation function, if the secret rotates: it may read the secret too. @default none */
    credentialRotationRoleArn: z
      .string()
      .regex(ARN.role, 'must be an ARN like arn:aws:iam::123456789012:role/dfns-credential-rotation')
      .optional(),
    /**
     * Qualifier of the CDK bootstrap stack this environment deploys with (`cdk bootstrap --qualifier`). The queue and
     * secret policies name that bootstrap's CloudFormation execution role. @default the app's
     * `@aws-cdk/core:bootstrapQualifier` context, else CDK's default
     */
    bootstrapQualifier: z
      .string()
      .regex(/^[a-z0-9]{1,10}$/, 'must be 1 to 10 lower-case letters or digits (as cdk bootstrap --qualifier takes)')
      .optional(),
    /** Who is paged. At least one, no repeats. */
    alarmEmails: z
      .array(z.email('must be an e-mail address'))
      .min(1, 'needs at least one address: alarms must wake a human')
      .refine((list) => new Set(list.map((a) => a.toLowerCase())).size === list.length, 'lists an address twice'),
    /**
     * The Dfns organisation this environment's credential belongs to: a label of your choosing, the same for every
     * environment on that organisation. Synth adds up their `dfnsRequestsPerMinute` against its limit.
     */
    dfnsOrganisation: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9-]{0,62}$/,
        'must be a label of lower-case letters, digits and hyphens, the same for every environment on one Dfns organisation',
      ),
    /** The requests per minute Dfns allows that organisation, every caller together: 1000, or 100 on Trial. */
    dfnsOrganisationRequestsPerMinute: z
      .number()
      .refine(
        (n) => (DFNS_ORGANISATION_LIMITS as readonly number[]).includes(n),
        `must be ${DFNS_ORGANISATION_LIMITS.join(' or ')}: Dfns' limit per organisation (the smaller on a Trial organisation)`,
      ),
    /** Deliveries before SQS moves a record to the DLQ. @default 5 */
    maxReceiveCount: z.number().int().min(1).max(1000).default(5),
    /** Records per invocation (SQS maximum 10 without a batching window above 0). @default 10 */
    batchSize: z.number().int().min(1).max(10_000).default(10),
    /** Batching window, in s. @default 1 */
    batchingWindowSeconds: seconds(0, 300).default(1),
    /** Concurrent invocations the event source mapping may run (2–1000). @default 5 */
    eventSourceMaxConcurrency: z.number().int().min(2).max(1000).default(5),
    /**
     * This deployment's share of its Dfns organisation's request limit, requests per minute, every concurrent
     * invocation together (`DFNS_REQUESTS_PER_MINUTE`, CONTRACT section 8). Required: the organisation's own wallets
     * and apps share the limit (1000 per minute, 100 on Trial), and so do the other environments on it.
     */
    dfnsRequestsPerMinute: z.number().int().min(3).max(1_000_000),
    /** Function timeout, in s. @default 60 */
    functionTimeoutSeconds: seconds(10, 900).default(60),
    /** Function memory, in MB. @default 512 */
    memoryMb: z.number().int().min(128).max(10_240).default(512),
    /** Deactivations in flight per invocation (`MAX_CONCURRENCY`). @default 8 */
    maxConcurrency: z.number().int().min(1).max(256).default(8),
    /** Timeout of one HTTP request to Dfns, in ms (`DFNS_REQUEST_TIMEOUT_MS`). @default 10000 */
    dfnsRequestTimeoutMs: z.number().int().min(100).max(900_000).default(10_000),
    /** Attempts per token per invocation (`DFNS_MAX_ATTEMPTS`). @default 3 */
    dfnsMaxAttempts: z.number().int().min(1).max(10).default(3),
    /** Stop starting work this long before the deadline, in ms (`DEADLINE_MARGIN_MS`). @default 5000 */
    deadlineMarginMs: z
      .number()
      .int()
      .min(1_000, 'must be at least 1000: the dead-letter sends happen in the margin')
      .max(900_000)
      .default(5_000),
    /** Function-wide dry run (`DRY_RUN`). @default false */
    dryRun: z.boolean().default(false),
    /**
     * Token IDs never to deactivate (`PROTECTED_TOKEN_IDS`): the revoker's own token, break-glass tokens. As many as
     * the function's environment holds within Lambda's 4 KB (about 100; synth measures it). @default []
     */
    protectedTokenIds: z.array(z.string().regex(TOKEN_ID_PATTERN, `must match ${TOKEN_ID_PATTERN.source}`)).default([]),
    /** Log retention of the function's log group, in days (a CloudWatch Logs retention value). @default 365 */
    logRetentionDays: z
      .number()
      .refine((d) => RETENTION_DAYS.includes(d), `must be one of ${RETENTION_DAYS.join(', ')}`)
      .default(365),
    /** What happens to queues and logs when the stack is deleted. @default 'retain' */
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
    /** Oldest acceptable request age before the queue-age alarm pages, in s. @default 300 */
    revocationSloSeconds: seconds(60, 86_400).default(300),
    /** Queue encryption: SQS-managed SSE, or a customer-managed KMS key with rotation (cross-account senders). @default 'sqs-managed' */
    queueEncryption: z.enum(['sqs-managed', 'kms']).default('sqs-managed'),
    /** Source-queue visibility timeout, in s; at least 6 × function timeout + batching window. @default that minimum */
    visibilityTimeoutSeconds: seconds(0, 43_200).optional(),
  })
  .superRefine((s, ctx) => {
    const minimum = 6 * s.functionTimeoutSeconds + s.batchingWindowSeconds;
    if (s.visibilityTimeoutSeconds !== undefined && s.visibilityTimeoutSeconds < minimum) {
      ctx.addIssue({
        code: 'custom',
        path: ['visibilityTimeoutSeconds'],
        message: `must be at least 6 × functionTimeoutSeconds + batchingWindowSeconds = ${minimum} (AWS guidance for SQS event sources)`,
      });
    }
    const receivesSeconds = s.maxReceiveCount * (s.visibilityTimeoutSeconds ?? minimum);
    if (receivesSeconds >= REQUEST_RETENTION_DAYS * 86_400) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxReceiveCount'],
        message: `× the visibility timeout is ${receivesSeconds} s, not under the request queue's ${REQUEST_RETENTION_DAYS}-day retention: a record would expire before its last receive`,
      });
    }
    if (s.deadlineMarginMs >= s.functionTimeoutSeconds * 1000) {
      ctx.addIssue({
        code: 'custom',
        path: ['deadlineMarginMs'],
        message: 'must be shorter than the function timeout',
      });
    }
    if (s.dfnsRequestsPerMinute < REQUESTS_PER_TOKEN * s.eventSourceMaxConcurrency) {
      ctx.addIssue({
        code: 'custom',
        path: ['dfnsRequestsPerMinute'],
        message: `must be at least ${REQUESTS_PER_TOKEN} × eventSourceMaxConcurrency (${REQUESTS_PER_TOKEN * s.eventSourceMaxConcurrency}): every container's share must hold one token's ${REQUESTS_PER_TOKEN} requests`,
      });
    }
    const share = invocationShare(s);
    if (s.deadlineMarginMs < s.functionTimeoutSeconds * 1000 && share < REQUESTS_PER_TOKEN) {
      const work = (s.functionTimeoutSeconds * 1000 - s.deadlineMarginMs) / 1000;
      ctx.addIssue({
        code: 'custom',
        path: ['functionTimeoutSeconds'],
        message:
          `leaves one container ${s.dfnsRequestsPerMinute} ÷ ${s.eventSourceMaxConcurrency} requests per minute ` +
          `(dfnsRequestsPerMinute ÷ eventSourceMaxConcurrency) × ${work} s (functionTimeoutSeconds − deadlineMarginMs) ` +
          `÷ 60 s = ${share.toFixed(2)} requests per invocation, under one token's ${REQUESTS_PER_TOKEN}: once the ` +
          'budget is in use, no token could start before the deadline. Lower eventSourceMaxConcurrency (fewer, larger ' +
          'shares), raise functionTimeoutSeconds, or raise dfnsRequestsPerMinute if the organisation has room',
      });
    }
    if (s.batchSize > 10 && s.batchingWindowSeconds === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchSize'],
        message: 'above 10 needs batchingWindowSeconds > 0 (SQS rule)',
      });
    }
    if ((s.account === undefined) !== (s.region === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['account'], message: 'give account and region together, or neither' });
    }
    if (s.dfnsRequestTimeoutMs >= s.functionTimeoutSeconds * 1000) {
      ctx.addIssue({
        code: 'custom',
        path: ['dfnsRequestTimeoutMs'],
        message: 'must be shorter than the function timeout',
      });
    }
    const secret = ARN.secret.exec(s.credentialSecretArn);
    const key = s.credentialSecretKmsKeyArn ? ARN.kmsKey.exec(s.credentialSecretKmsKeyArn) : null;
    if (secret && key && (key[1] !== secret[1] || key[2] !== secret[2])) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentialSecretKmsKeyArn'],
        message: `is in ${key[1]}/${key[2]}, the secret in ${secret[1]}/${secret[2]}: a secret's key is in its region and account`,
      });
    }
    if (secret && s.account && secret[2] !== s.account) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentialSecretArn'],
        message: `is in account ${secret[2]}, the stack in ${s.account}`,
      });
    }
  });

/** Settings as written in {@link ENVIRONMENTS}. */
export type EnvironmentInput = z.input<typeof settingsSchema>;
/** Validated settings with defaults applied; durations as named (s or ms). */
export type EnvironmentSettings = z.output<typeof settingsSchema> & {
  name: EnvironmentName;
  visibilityTimeoutSeconds: number;
};

/**
 * Validates one environment's settings and applies the defaults.
 *
 * @throws {SettingsError} naming the first bad setting as `<env>.<path>` and the rule it broke
 */
export function resolveSettings(name: EnvironmentName, input: EnvironmentInput): EnvironmentSettings {
  const result = settingsSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new SettingsError(`${name}${path}`, issue.message);
  }
  const settings = result.data;
  if (name === 'prod' && settings.removalPolicy !== 'retain') {
    throw new SettingsError(
      'prod.removalPolicy',
      "must be 'retain': deleting the prod stack must not delete its queues, key and logs",
    );
  }
  const secretRegion = ARN.secret.exec(settings.credentialSecretArn)?.[1];
  if (settings.region && secretRegion !== settings.region) {
    throw new SettingsError(
      `${name}.credentialSecretArn`,
      `is in ${secretRegion}, the stack in ${settings.region}: the function reads it in its own region`,
    );
  }
  const resolved: EnvironmentSettings = {
    ...settings,
    name,
    visibilityTimeoutSeconds:
      settings.visibilityTimeoutSeconds ?? 6 * settings.functionTimeoutSeconds + settings.batchingWindowSeconds,
  };
  checkEnvironmentSize(resolved);
  return resolved;
}

/**
 * The environments to synthesize: all of them, or the one named by `-c env=<name>`. Every environment is validated
 * either way: the budgets of the environments on one Dfns organisation are checked together.
 *
 * @throws {SettingsError} for an unknown name or bad settings
 */
export function selectEnvironments(
  only: unknown,
  environments: Record<EnvironmentName, EnvironmentInput> = ENVIRONMENTS,
): EnvironmentSettings[] {
  if (only !== undefined && !ENVIRONMENT_NAMES.includes(only as EnvironmentName)) {
    throw new SettingsError(
      'env',
      `unknown environment ${JSON.stringify(only)}; one of ${ENVIRONMENT_NAMES.join(', ')}`,
    );
  }
  const all = ENVIRONMENT_NAMES.map((name) => resolveSettings(name, environments[name]));
  checkOrganisationBudgets(all);
  return only === undefined ? all : all.filter((settings) => settings.name === only);
}
