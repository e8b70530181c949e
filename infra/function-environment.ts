/**
 * The function's whole environment (CONTRACT sections 2 and 8) from an environment's settings: one builder for the
 * stack and for the loopback world (tools/world), so what is rehearsed on a laptop is what is deployed.
 */
import type { EnvironmentSettings } from './environments.js';

/** Service name and metrics namespace the function emits with (CONTRACT section 7) and the alarms select. */
export const SERVICE_NAME = 'pat-revoker';
export const METRICS_NAMESPACE = 'PatRevoker';

/**
 * Lambda's limit on a function's environment, in bytes: 4 KB for all its variables together, keys and values
 * (Lambda quotas, "Environment variables"; not adjustable). Checked at synth (infra/environments.ts).
 */
export const LAMBDA_ENVIRONMENT_MAX_BYTES = 4 * 1024;

/**
 * The size of a function's environment as Lambda measures it: the variables as compact JSON, in UTF-8 bytes (its
 * refusal quotes the "String measured" as `{"KEY":"value",...}`). That is every key and value plus their quotes,
 * colons and commas: never less than the keys and values alone.
 */
export function environmentBytes(variables: Record<string, string>): number {
  return new TextEncoder().encode(JSON.stringify(variables)).length;
}

/** What the settings cannot say: where the resources are (CDK tokens in the stack, loopback URLs in the world). */
export interface FunctionRefs {
  /** `DFNS_API_URL`: the settings' `dfnsApiUrl` in the stack, the sandbox in the world. */
  dfnsApiUrl: string;
  /** `DFNS_CREDENTIALS_SECRET_ID`. */
  credentialSecretId: string;
  deadLetterQueueUrl: string;
  /** The queues the event source mapping reads (continuations go back to a record's own). */
  sourceQueueUrls: readonly string[];
  /** The unique ID of the function's role (`AROA…`), the `SenderId` of its continuations. */
  functionRoleId: string;
}

/** The references a deployed stack takes from the settings as they are (the rest CloudFormation fills in). */
export function settingsRefs(settings: EnvironmentSettings): Pick<FunctionRefs, 'dfnsApiUrl' | 'credentialSecretId'> {
  return { dfnsApiUrl: settings.dfnsApiUrl, credentialSecretId: settings.credentialSecretArn };
}

/**
 * The function's environment variables.
 *
 * @param settings one environment's validated settings (infra/environments.ts)
 * @param refs where its resources are
 * @returns every variable the function reads, as strings
 */
export function functionEnvironment(settings: EnvironmentSettings, refs: FunctionRefs): Record<string, string> {
  return {
    DFNS_API_URL: refs.dfnsApiUrl,
    DFNS_CREDENTIALS_SECRET_ID: refs.credentialSecretId,
    DEAD_LETTER_QUEUE_URL: refs.deadLetterQueueUrl,
    // Continuations go back to the record's own queue; the budget's share is per invocation at once.
    SOURCE_QUEUE_URLS: refs.sourceQueueUrls.join(','),
    FUNCTION_ROLE_ID: refs.functionRoleId,
    PROTECTED_TOKEN_IDS: settings.protectedTokenIds.join(','),
    DRY_RUN: String(settings.dryRun),
    MAX_CONCURRENCY: String(settings.maxConcurrency),
    DFNS_REQUEST_TIMEOUT_MS: String(settings.dfnsRequestTimeoutMs),
    DFNS_MAX_ATTEMPTS: String(settings.dfnsMaxAttempts),
    DEADLINE_MARGIN_MS: String(settings.deadlineMarginMs),
    MAX_RECEIVE_COUNT: String(settings.maxReceiveCount),
    DFNS_REQUESTS_PER_MINUTE: String(settings.dfnsRequestsPerMinute),
    EVENT_SOURCE_MAX_CONCURRENCY: String(settings.eventSourceMaxConcurrency),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}
