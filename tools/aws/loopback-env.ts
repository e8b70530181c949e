/** The function's environment when everything it talks to is on loopback (the demo and the bench). */

/** Where the loopback servers listen. */
export interface LoopbackEndpoints {
  dfnsApiUrl: string;
  secretsManagerUrl: string;
  deadLetterQueueUrl: string;
  secretId: string;
}

/** CONTRACT section 2 variables plus dummy AWS credentials and the loopback AWS endpoints. */
export function loopbackEnv(endpoints: LoopbackEndpoints): Record<string, string> {
  return {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'loopback',
    AWS_SECRET_ACCESS_KEY: 'loopback',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManagerUrl,
    // The SQS client sends to the queue URL's host anyway; this only quiets its "differs from endpoint" warning.
    AWS_ENDPOINT_URL_SQS: new URL(endpoints.deadLetterQueueUrl).origin,
    DFNS_API_URL: endpoints.dfnsApiUrl,
    DFNS_CREDENTIALS_SECRET_ID: endpoints.secretId,
    DEAD_LETTER_QUEUE_URL: endpoints.deadLetterQueueUrl,
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}
