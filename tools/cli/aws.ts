/**
 * The CLI's AWS clients, with the AWS CLI's conventions: `--region`, `--profile`, the SDK's endpoint variables
 * (`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_CLOUDWATCH`, `AWS_ENDPOINT_URL`) with
 * `--endpoint-url` as the shorthand for SQS, and connection and request timeouts on every call.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { UsageError } from '../command-line.js';

/** Defaults of the timeouts, in seconds (`--connect-timeout`, `--request-timeout`, `--timeout`). */
export const TIMEOUT_DEFAULTS = { connect: 3, request: 10, overall: 120 } as const;

/** How the clients reach AWS. */
export interface AwsSettings {
  region: string;
  profile?: string;
  /** The SQS endpoint: `--endpoint-url`, else `AWS_ENDPOINT_URL_SQS`, else `AWS_ENDPOINT_URL`. */
  sqsEndpoint?: string;
  /** Seconds to establish a connection. */
  connectTimeout: number;
  /** Seconds for one request's answer. */
  requestTimeout: number;
}

/** The clients of one CLI run. */
export interface AwsClients {
  /** For reads: the SDK retries what it may. */
  sqs: SQSClient;
  /**
   * For sends: one attempt, never retried by the SDK. A retry after a lost answer queues the same request again;
   * the CLI reports a lost answer as such instead ("may have been queued").
   */
  sqsSend: SQSClient;
  sts: STSClient;
  cloudwatch: CloudWatchClient;
  destroy(): void;
}

/**
 * The region: `--region`, else the one the queue names (its URL or ARN), else the SDK's own chain (`AWS_REGION`,
 * the profile's).
 *
 * @throws UsageError when none is found (nothing was sent: exit 2)
 */
export async function resolveRegion(given: string | undefined, profile: string | undefined): Promise<string> {
  if (given) return given;
  const probe = new SQSClient(profile ? { profile } : {});
  try {
    return await probe.config.region();
  } catch {
    throw new UsageError(
      `no AWS region: give --region, or set AWS_REGION, or a region in the profile (${profile ?? 'AWS_PROFILE or default'})`,
    );
  } finally {
    probe.destroy();
  }
}

/** The SQS endpoint the settings and the environment give, if any. */
export function sqsEndpointOf(
  given: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  // Given explicitly, because the SQS client otherwise sends to the queue URL's host, ignoring the variable.
  return given ?? env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL;
}

/** Creates the clients. */
export function awsClients(settings: AwsSettings): AwsClients {
  const common = {
    region: settings.region,
    ...(settings.profile ? { profile: settings.profile } : {}),
    // The SDK builds its Node HTTP handler from these options.
    requestHandler: {
      connectionTimeout: settings.connectTimeout * 1000,
      requestTimeout: settings.requestTimeout * 1000,
      // Without it, a request past its timeout is only warned about and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
  const endpoint = settings.sqsEndpoint ? { endpoint: settings.sqsEndpoint } : {};
  const sqs = new SQSClient({ ...common, ...endpoint });
  const sqsSend = new SQSClient({ ...common, ...endpoint, maxAttempts: 1 });
  const sts = new STSClient(common);
  const cloudwatch = new CloudWatchClient(common);
  return {
    sqs,
    sqsSend,
    sts,
    cloudwatch,
    destroy() {
      for (const client of [sqs, sqsSend, sts, cloudwatch]) client.destroy();
    },
  };
}

/** Node's codes for a connection that was never made: nothing was sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * What a failed send means for its messages: `refused` when they were certainly not queued (SQS answered with a
 * 4xx error, or no connection was made), `lost` when the request may have reached SQS and its answer did not come back
 * (a timeout, a reset connection, an abort while waiting, a 5xx answer).
 */
export function sendFailure(error: unknown): 'refused' | 'lost' {
  const fields = error as {
    $metadata?: { httpStatusCode?: number };
    $response?: unknown;
    code?: string;
    name?: string;
  };
  // An error SQS answered: it has the HTTP status of SQS' answer and a service fault. Only a 4xx is a refusal: a 5xx
  // (InternalError, ServiceUnavailable, a gateway's 502) does not say the messages were not stored, and AWS' own
  // advice for it is to send again, which may queue them twice; it is an answer lost as far as the report goes.
  const status = fields?.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (error as { $fault?: string }).$fault) return status < 500 ? 'refused' : 'lost';
  if (typeof fields?.code === 'string' && NOT_CONNECTED.has(fields.code)) return 'refused';
  // The SDK's connection timeout: the socket never connected, so no byte of the request left.
  if (fields?.name === 'TimeoutError' && /did not establish a connection/.test(String((error as Error).message))) {
    return 'refused';
  }
  return 'lost';
}
