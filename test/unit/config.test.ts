import { describe, expect, it } from '@jest/globals';
import { ConfigError, parseConfig } from '../../functions/lib/config.js';

const base = {
  DFNS_API_URL: 'https://api.dfns.io',
  DFNS_CREDENTIALS_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dfns-AbCdEf',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/pat-revoker-dlq',
};

function error(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('applies the CONTRACT section 2 defaults', () => {
    expect(parseConfig(base)).toEqual({
      dfnsApiUrl: 'https://api.dfns.io',
      credentialsSecretId: base.DFNS_CREDENTIALS_SECRET_ID,
      deadLetterQueueUrl: base.DEAD_LETTER_QUEUE_URL,
      protectedTokenIds: new Set(),
      dryRun: false,
      maxConcurrency: 8,
      dfnsRequestTimeoutMs: 10_000,
      dfnsMaxAttempts: 3,
      deadlineMarginMs: 5_000,
      serviceName: 'pat-revoker',
      metricsNamespace: 'PatRevoker',
      dfnsRequestsPerMinute: 600,
      eventSourceMaxConcurrency: 1,
      dfnsBudgetWindowMs: 60_000,
      sourceQueues: [],
    });
  });

  it('reads every variable', () => {
    const config = parseConfig({
      ...base,
      DFNS_API_URL: 'https://api.uae.dfns.io/',
      PROTECTED_TOKEN_IDS: ' to-aaaaa-bbbbb-cccccccccccccccc , to-ddddd-eeeee-fffffffffffffff,',
      DRY_RUN: 'TRUE',
      MAX_CONCURRENCY: '32',
      DFNS_REQUEST_TIMEOUT_MS: '2500',
      DFNS_MAX_ATTEMPTS: '5',
      DEADLINE_MARGIN_MS: '1000',
      MAX_RECEIVE_COUNT: '5',
      POWERTOOLS_SERVICE_NAME: 'revoker-prod',
      POWERTOOLS_METRICS_NAMESPACE: 'Security',
      DFNS_REQUESTS_PER_MINUTE: '300',
      EVENT_SOURCE_MAX_CONCURRENCY: '4',
      DFNS_BUDGET_WINDOW_SECONDS: '10',
      SOURCE_QUEUE_URLS:
        'https://sqs.eu-west-1.amazonaws.com/123456789012/pat-revoker-requests, http://127.0.0.1:9324/000000000000/q',
    });
    expect(config).toMatchObject({
      dfnsRequestsPerMinute: 300,
      eventSourceMaxConcurrency: 4,
      dfnsBudgetWindowMs: 10_000,
      sourceQueues: [
        {
          url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/pat-revoker-requests',
          account: '123456789012',
          name: 'pat-revoker-requests',
        },
        { url: 'http://127.0.0.1:9324/000000000000/q', account: '000000000000', name: 'q' },
      ],
      dfnsApiUrl: 'https://api.uae.dfns.io',
      protectedTokenIds: new Set(['to-aaaaa-bbbbb-cccccccccccccccc', 'to-ddddd-eeeee-fffffffffffffff']),
      dryRun: true,
      maxConcurrency: 32,
      dfnsRequestTimeoutMs: 2500,
      dfnsMaxAttempts: 5,
      deadlineMarginMs: 1000,
      maxReceiveCount: 5,
      serviceName: 'revoker-prod',
      metricsNamespace: 'Security',
    });
  });

  it('accepts plain http only on loopback', () => {
    expect(parseConfig({ ...base, DFNS_API_URL: 'http://127.0.0.1:8787' }).dfnsApiUrl).toBe('http://127.0.0.1:8787');
    expect(parseConfig({ ...base, DFNS_API_URL: 'http://localhost:1' }).dfnsApiUrl).toBe('http://localhost:1');
  });

  it.each([
    ['DFNS_API_URL', { DFNS_API_URL: undefined }, /is required/],
    ['DFNS_API_URL', { DFNS_API_URL: '  ' }, /is required/],
    ['DFNS_API_URL', { DFNS_API_URL: 'api.dfns.io' }, /absolute URL/],
    ['DFNS_API_URL', { DFNS_API_URL: 'http://api.dfns.io' }, /https/],
    ['DFNS_API_URL', { DFNS_API_URL: 'https://api.dfns.io/v1' }, /origin without path/],
    [
      'DFNS_API_URL',
      { DFNS_API_URL: 'https://api.dfns.io.attacker.example' },
      /one of Dfns' documented API origins \(https:\/\/api\.dfns\.io, https:\/\/api\.uae\.dfns\.io/,
    ],
    ['DFNS_CREDENTIALS_SECRET_ID', { DFNS_CREDENTIALS_SECRET_ID: undefined }, /is required/],
    ['DEAD_LETTER_QUEUE_URL', { DEAD_LETTER_QUEUE_URL: undefined }, /is required/],
    ['DEAD_LETTER_QUEUE_URL', { DEAD_LETTER_QUEUE_URL: 'pat-revoker-dlq' }, /is not a URL/],
    [
      'DEAD_LETTER_QUEUE_URL',
      { DEAD_LETTER_QUEUE_URL: 'https://collector.example.com/123456789012/pat-revoker-dlq' },
      /must be https:\/\/ on an SQS host \(or http:\/\/ on loopback\)/,
    ],
    [
      'DEAD_LETTER_QUEUE_URL',
      { DEAD_LETTER_QUEUE_URL: 'http://sqs.eu-west-1.amazonaws.com/123456789012/pat-revoker-dlq' },
      /must be https:\/\/ on an SQS host/,
    ],
    [
      'PROTECTED_TOKEN_IDS',
      { PROTECTED_TOKEN_IDS: 'to-aaaaa-bbbbb-cccccccccccccccc,TO-BAD' },
      /1 entry does not match.*"TO-BAD"/,
    ],
    ['DRY_RUN', { DRY_RUN: 'yes' }, /must be true or false/],
    ['MAX_CONCURRENCY', { MAX_CONCURRENCY: '0' }, /at least 1/],
    ['MAX_CONCURRENCY', { MAX_CONCURRENCY: 'eight' }, /whole number/],
    ['DFNS_REQUEST_TIMEOUT_MS', { DFNS_REQUEST_TIMEOUT_MS: '1.5' }, /whole number/],
    ['DFNS_MAX_ATTEMPTS', { DFNS_MAX_ATTEMPTS: '11' }, /at most 10/],
    ['DEADLINE_MARGIN_MS', { DEADLINE_MARGIN_MS: '-1' }, /whole number/],
    ['DEADLINE_MARGIN_MS', { DEADLINE_MARGIN_MS: '999' }, /at least 1000/],
    ['MAX_RECEIVE_COUNT', { MAX_RECEIVE_COUNT: '0' }, /at least 1/],
    ['DFNS_REQUESTS_PER_MINUTE', { DFNS_REQUESTS_PER_MINUTE: '2' }, /at least 3/],
    ['DFNS_REQUESTS_PER_MINUTE', { DFNS_REQUESTS_PER_MINUTE: 'lots' }, /whole number/],
    [
      'DFNS_REQUESTS_PER_MINUTE',
      { DFNS_REQUESTS_PER_MINUTE: '29', EVENT_SOURCE_MAX_CONCURRENCY: '10' },
      /at least 3 × EVENT_SOURCE_MAX_CONCURRENCY \(10\) = 30/,
    ],
    ['EVENT_SOURCE_MAX_CONCURRENCY', { EVENT_SOURCE_MAX_CONCURRENCY: '0' }, /at least 1/],
    ['EVENT_SOURCE_MAX_CONCURRENCY', { EVENT_SOURCE_MAX_CONCURRENCY: '1001' }, /at most 1000/],
    ['DFNS_BUDGET_WINDOW_SECONDS', { DFNS_BUDGET_WINDOW_SECONDS: '61' }, /at most 60/],
    ['SOURCE_QUEUE_URLS', { SOURCE_QUEUE_URLS: 'pat-revoker-requests' }, /is not a URL/],
    [
      'SOURCE_QUEUE_URLS',
      { SOURCE_QUEUE_URLS: 'http://sqs.eu-west-1.amazonaws.com/123456789012/q' },
      /https:\/\/ on an SQS host/,
    ],
    ['SOURCE_QUEUE_URLS', { SOURCE_QUEUE_URLS: 'https://evil.example.com/123456789012/q' }, /on an SQS host/],
    [
      'SOURCE_QUEUE_URLS',
      { SOURCE_QUEUE_URLS: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo' },
      /FIFO queue: continuations need a standard queue/,
    ],
    ['FUNCTION_ROLE_ID', { FUNCTION_ROLE_ID: 'arn:aws:iam::123456789012:role/x' }, /IAM unique ID/],
    [
      'SOURCE_QUEUE_URLS',
      { SOURCE_QUEUE_URLS: 'https://sqs.eu-west-1.amazonaws.com/queues/q' },
      /ending in \/<account>\/<queue name>/,
    ],
  ])('names %s when it is wrong', (variable, change, rule) => {
    const e = error({ ...base, ...change });
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.variable).toBe(variable);
    expect(e.message).toMatch(new RegExp(`^${variable}: `));
    expect(e.message).toMatch(rule);
  });
});
