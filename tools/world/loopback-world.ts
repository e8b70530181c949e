/**
 * The whole loop on one machine, in one call: a loopback SQS with the request queue and its DLQ as the stack defines
 * them (redrive policy, `maxReceiveCount`), the Dfns sandbox (optionally with an organisation rate limit), the
 * Secrets Manager responder holding a fresh service-account key, Lambda's SQS event source emulated
 * (tools/event-source) running the bundled handler in processes, and the environment that points the operator CLI
 * at it. The function's environment comes from the same builder as the stack's (infra/function-environment.ts).
 *
 * Time settings are scaled for rehearsal and stated in {@link LoopbackWorld.describe}: a 20 s function timeout (not
 * 60) and a visibility timeout just above it (not 6 ×), so that a redelivery comes back in seconds, not minutes. The
 * environment's function-wide dry run is off unless asked for: the rehearsal revokes, in the sandbox.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../functions/lib/config.js';
import {
  ENVIRONMENTS,
  resolveSettings,
  type EnvironmentName,
  type EnvironmentSettings,
} from '../../infra/environments.js';
import { functionEnvironment } from '../../infra/function-environment.js';
import { loopbackEnv } from '../aws/loopback-env.js';
import { startSecretsManager, type SecretsManagerResponder } from '../aws/secrets-manager.js';
import { startStsCloudWatch } from '../aws/sts-cloudwatch.js';
import { startSqs, type LoopbackSqs } from '../aws/sqs.js';
import { bundleHandler } from '../bundle-handler.js';
import { EventSourceMapping, type FunctionLogLine } from '../event-source/event-source-mapping.js';
import { startSandbox, type DfnsSandbox } from '../sandbox/sandbox.js';

/** The function's role in the world: its sends carry `<this>:<function name>` as their `SenderId`. */
export const WORLD_FUNCTION_ROLE_ID = 'AROALOOPBACKREVOKER01';
/** The `SenderId` of the function's sends in the world. */
export const WORLD_FUNCTION_SENDER_ID = `${WORLD_FUNCTION_ROLE_ID}:pat-revoker`;
/** The operator the CLI sends as. */
export const WORLD_OPERATOR_SENDER_ID = 'AROALOOPBACKOPERATOR1:operator';
const SECRET_ID = 'pat-revoker/dfns-credential';
/** Who the operator is, as the world's STS answers GetCallerIdentity (the loopback queues' account). */
const WORLD_OPERATOR_CALLER = {
  account: '123456789012',
  arn: 'arn:aws:sts::123456789012:assumed-role/pat-revoker-operator/operator',
  userId: 'AROALOOPBACKOPERATOR1:operator',
};

/** Options of {@link startLoopbackWorld}; every time is stated in the world's description. */
export interface LoopbackWorldOptions {
  /** The environment whose settings the stack would deploy. @default 'dev' */
  environment?: EnvironmentName;
  /** Containers at once (`EVENT_SOURCE_MAX_CONCURRENCY`). @default the environment's `eventSourceMaxConcurrency` */
  containers?: number;
  /** The function timeout, ms. @default 20000 (four times `DEADLINE_MARGIN_MS`: the margin applies whole) */
  functionTimeoutMs?: number;
  /** The request queue's visibility timeout, s. @default the function timeout + 2 s */
  visibilityTimeoutSeconds?: number;
  /** The batching window, ms. @default the environment's, in ms */
  batchingWindowMs?: number;
  /** The sandbox's organisation limit: requests per window, and the window (also `DFNS_BUDGET_WINDOW_SECONDS`). */
  rateLimit?: { requests: number; windowSeconds: number };
  /** `DFNS_REQUESTS_PER_MINUTE`. @default the environment's */
  requestsPerMinute?: number;
  /** The function-wide `DRY_RUN`. @default false, whatever the environment's settings say */
  dryRun?: boolean;
  /** Where the function's log lines go. @default dropped */
  logSink?: (line: FunctionLogLine) => void;
  /**
   * More variables of the function, over the ones built (checked like the rest): a rehearsal on a faster clock
   * scales the times the environment's settings fix, e.g. `DEADLINE_MARGIN_MS`. @default none
   */
  env?: Record<string, string>;
}

/** A running world. {@link LoopbackWorld.close} it. */
export interface LoopbackWorld {
  settings: EnvironmentSettings;
  sandbox: DfnsSandbox;
  sqs: LoopbackSqs;
  secrets: SecretsManagerResponder;
  eventSource: EventSourceMapping;
  queueUrl: string;
  deadLetterQueueUrl: string;
  /** The function's whole environment. */
  functionEnv: Record<string, string>;
  /** What points the operator CLI at this world (`AWS_*`, `PAT_REVOKER_QUEUE_URL`, `PAT_REVOKER_DLQ_URL`). */
  cliEnv: Record<string, string>;
  /** Writes {@link cliEnv} as `export` lines to `path` (for `source`). */
  writeEnvFile(path: string): void;
  /** The settings in force, one per line, the scaled times included. */
  describe(): string;
  close(): Promise<void>;
}

/**
 * Starts the world: bundles the handler (as the stack does), starts the servers, creates the queues and the
 * credential, and starts the event source.
 *
 * @throws when a server cannot start, or the function's environment is invalid (the same check as a cold start)
 */
export async function startLoopbackWorld(options: LoopbackWorldOptions = {}): Promise<LoopbackWorld> {
  const name = options.environment ?? 'dev';
  const settings = resolveSettings(name, ENVIRONMENTS[name]);
  const containers = options.containers ?? settings.eventSourceMaxConcurrency;
  const functionTimeoutMs = options.functionTimeoutMs ?? 20_000;
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? Math.ceil(functionTimeoutMs / 1000) + 2;
  const batchingWindowMs = options.batchingWindowMs ?? settings.batchingWindowSeconds * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'pat-revoker-world-'));
  const bundle = join(dir, 'index.mjs');
  const queueName = `pat-revoker-${name}-requests`;
  const [sandbox, secrets, sqs, operatorApis] = await Promise.all([
    startSandbox(),
    startSecretsManager(),
    startSqs(`${queueName}-dlq`),
    startStsCloudWatch(WORLD_OPERATOR_CALLER),
    bundleHandler(bundle),
  ]).then(([a, b, c, d]) => [a, b, c, d] as const);
  // The operator's CLI asks STS who it is and CloudWatch for the queues' age; the world keeps no metrics, and says so.
  operatorApis.cloudWatch = {
    kind: 'error',
    status: 501,
    type: 'LoopbackWorld',
    message: 'the loopback world keeps no CloudWatch metrics',
  };
  const closeServers = () => Promise.all([sandbox.close(), secrets.close(), sqs.close(), operatorApis.close()]);
  try {
    if (options.rateLimit) {
      sandbox.limitRate({ limit: options.rateLimit.requests, windowMs: options.rateLimit.windowSeconds * 1000 });
    }
    secrets.setSecret(SECRET_ID, JSON.stringify(sandbox.createServiceAccount()));
    const deadLetterQueueUrl = sqs.deadLetterQueueUrl;
    const { Attributes } = await sqs.client.send(
      new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }),
    );
    const queueUrl = await sqs.createQueue(queueName, {
      VisibilityTimeout: String(visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: Attributes?.QueueArn,
        maxReceiveCount: String(settings.maxReceiveCount),
      }),
    });
    const functionEnv: Record<string, string> = {
      ...loopbackEnv({
        dfnsApiUrl: sandbox.url,
        secretsManagerUrl: secrets.url,
        deadLetterQueueUrl,
        secretId: SECRET_ID,
      }),
      ...functionEnvironment(settings, {
        dfnsApiUrl: sandbox.url,
        credentialSecretId: SECRET_ID,
        deadLetterQueueUrl,
        sourceQueueUrls: [queueUrl],
        functionRoleId: WORLD_FUNCTION_ROLE_ID,
      }),
      EVENT_SOURCE_MAX_CONCURRENCY: String(containers),
      DRY_RUN: String(options.dryRun ?? false),
      ...(options.requestsPerMinute === undefined
        ? {}
        : { DFNS_REQUESTS_PER_MINUTE: String(options.requestsPerMinute) }),
      ...(options.rateLimit ? { DFNS_BUDGET_WINDOW_SECONDS: String(options.rateLimit.windowSeconds) } : {}),
      // The function's sends (dead letters, continuations) carry its role as their SenderId.
      AWS_ACCESS_KEY_ID: sqs.credentialsFor(WORLD_FUNCTION_SENDER_ID).accessKeyId,
      // What Lambda itself sets in every execution environment, as the stack configures it (JSON logs at INFO).
      AWS_LAMBDA_FUNCTION_NAME: 'pat-revoker',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(settings.memoryMb),
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_LOG_LEVEL: 'INFO',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      TZ: ':UTC',
      PATH: process.env.PATH ?? '',
      ...options.env,
    };
    parseConfig(functionEnv); // fails here, naming the variable, rather than in every container
    const operator = sqs.credentialsFor(WORLD_OPERATOR_SENDER_ID);
    const cliEnv = {
      AWS_REGION: functionEnv.AWS_REGION ?? 'eu-west-1',
      AWS_ENDPOINT_URL_SQS: new URL(queueUrl).origin,
      AWS_ENDPOINT_URL_STS: operatorApis.stsUrl,
      AWS_ENDPOINT_URL_CLOUDWATCH: operatorApis.cloudWatchUrl,
      AWS_ACCESS_KEY_ID: operator.accessKeyId,
      AWS_SECRET_ACCESS_KEY: operator.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      PAT_REVOKER_QUEUE_URL: queueUrl,
      PAT_REVOKER_DLQ_URL: deadLetterQueueUrl,
    };
    const eventSource = await EventSourceMapping.start({
      client: sqs.client,
      queueUrls: [queueUrl],
      handlerPath: bundle,
      env: functionEnv,
      functionTimeoutMs,
      maxConcurrency: containers,
      batchSize: settings.batchSize,
      batchingWindowMs,
      receiveWaitSeconds: 1,
      ...(options.logSink ? { logSink: options.logSink } : {}),
    });
    return {
      settings,
      sandbox,
      sqs,
      secrets,
      eventSource,
      queueUrl,
      deadLetterQueueUrl,
      functionEnv,
      cliEnv,
      writeEnvFile(path) {
        const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
        writeFileSync(
          path,
          `${Object.entries(cliEnv)
            .map(([key, value]) => `export ${key}=${quote(value)}`)
            .join('\n')}\n`,
          { mode: 0o600 },
        );
      },
      describe: () =>
        [
          `environment ${name}: batch size ${settings.batchSize}, batching window ${batchingWindowMs} ms, ${containers} container(s) at once, DRY_RUN ${functionEnv.DRY_RUN}`,
          `function timeout ${functionTimeoutMs / 1000} s (deployed: ${settings.functionTimeoutSeconds} s); visibility timeout ${visibilityTimeoutSeconds} s (deployed: ${settings.visibilityTimeoutSeconds} s); maxReceiveCount ${settings.maxReceiveCount}`,
          `Dfns budget ${functionEnv.DFNS_REQUESTS_PER_MINUTE} requests per minute${options.rateLimit ? `; sandbox organisation limit ${options.rateLimit.requests} per ${options.rateLimit.windowSeconds} s` : ''}`,
        ].join('\n'),
      async close() {
        await eventSource.close();
        await closeServers();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await closeServers();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
