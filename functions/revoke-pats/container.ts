/**
 * The composition root: everything the handler needs, built once per Lambda container (per cold start) from the
 * configuration. Building makes no network call; the credential is fetched on the first token that needs it.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../lib/config.js';
import { SecretsManagerCredentials } from '../lib/credentials.js';
import { DfnsClient, type ServiceAccountCredential } from '../lib/dfns/client.js';
import { createTelemetry, PowertoolsAudit, type Telemetry } from './audit.js';
import { sqsContinuationSender } from './continuation.js';
import { sqsDeadLetterSender } from './dead-letter.js';
import { FinishedTokens } from './finished-tokens.js';
import { systemClock, type Clock } from './deactivate-tokens.js';
import { SlidingWindowBudget } from './request-budget.js';
import { sqsSourceProof } from './source-proof.js';
import type { BatchDeps } from './revoke-batch.js';
import { DEFAULT_RETRY_DELAYS } from './retry-policy.js';

/** What the handler wires together. */
export interface Container {
  telemetry: Telemetry;
  deps: BatchDeps;
}

/** Collaborators to use instead of the default ones (tests). */
export interface ContainerOverrides {
  secretsManager?: SecretsManagerClient;
  sqs?: SQSClient;
  /** Time and sleeps of the retry policy. @default the system clock */
  clock?: Clock;
  /** Jitter source. @default Math.random */
  random?: () => number;
}

/**
 * Timeouts of the AWS SDK clients, ms. `throwOnRequestTimeout`: without it this SDK only logs a warning when the
 * request timeout passes and keeps waiting, so a stuck connection would hold the invocation. The SDK's own retries
 * still apply within these bounds, and the invocation deadline aborts whatever is left.
 */
const AWS_REQUEST_HANDLER = { connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true };

/**
 * Builds the container. AWS clients get no hard-coded endpoint, so `AWS_REGION`, `AWS_ENDPOINT_URL_*` and the
 * standard credential chain apply (CONTRACT section 2).
 */
export function createContainer(config: Config, overrides: ContainerOverrides = {}): Container {
  const telemetry = createTelemetry(config);
  if (config.dryRun) {
    telemetry.logger.warn('DRY_RUN is on: this function deactivates no token; every valid request ends dry_run', {
      dryRun: true,
    });
  }
  const audit = new PowertoolsAudit(telemetry);
  const credentials = new SecretsManagerCredentials({
    client: overrides.secretsManager ?? new SecretsManagerClient({ requestHandler: AWS_REQUEST_HANDLER }),
    secretId: config.credentialsSecretId,
    onFetch: () => audit.credentialFetch(),
  });
  const sqs = overrides.sqs ?? new SQSClient({ requestHandler: AWS_REQUEST_HANDLER });
  // One client per credential: a rotated credential gets a new client, the old one is garbage.
  const clients = new WeakMap<ServiceAccountCredential, DfnsClient>();
  const clientFor = (credential: ServiceAccountCredential) => {
    let client = clients.get(credential);
    if (!client) {
      client = new DfnsClient({ apiUrl: config.dfnsApiUrl, credential, requestTimeoutMs: config.dfnsRequestTimeoutMs });
      clients.set(credential, client);
    }
    return client;
  };
  return {
    telemetry,
    deps: {
      settings: {
        dryRun: config.dryRun,
        protectedTokenIds: config.protectedTokenIds,
        deadlineMarginMs: config.deadlineMarginMs,
        ...(config.maxReceiveCount === undefined ? {} : { maxReceiveCount: config.maxReceiveCount }),
        sourceQueues: config.sourceQueues,
        ...(config.functionRoleId === undefined ? {} : { ownRoleId: config.functionRoleId }),
      },
      maxConcurrency: config.maxConcurrency,
      retry: {
        maxAttempts: config.dfnsMaxAttempts,
        attemptReserveMs: config.dfnsRequestTimeoutMs,
        ...DEFAULT_RETRY_DELAYS,
      },
      credentials,
      deactivate: (tokenId, credential, options) => clientFor(credential).deactivatePat(tokenId, options),
      budget: new SlidingWindowBudget(
        {
          requestsPerMinute: config.dfnsRequestsPerMinute,
          maxConcurrency: config.eventSourceMaxConcurrency,
          windowMs: config.dfnsBudgetWindowMs,
        },
        overrides.clock ?? systemClock,
      ),
      deadLetter: sqsDeadLetterSender(sqs, config.deadLetterQueueUrl),
      continuation: sqsContinuationSender(sqs),
      ...(config.sourceQueues.length > 0 ? { sourceProof: sqsSourceProof(sqs, config.sourceQueues) } : {}),
      finished: new FinishedTokens(),
      audit,
      ...(overrides.clock ? { clock: overrides.clock } : {}),
      ...(overrides.random ? { random: overrides.random } : {}),
    },
  };
}
