/**
 * The environments this app deploys, as written: edit them for your accounts. Validated at synth by
 * environments.ts (each setting) and environment-fit.ts (what the settings must fit together).
 */
import type { EnvironmentInput, EnvironmentName } from './environments.js';

/**
 * The environments. Replace the example accounts, ARNs and addresses with yours; `npm test` and `npx cdk synth`
 * validate them.
 *
 * Choosing batch size, batching window, timeout and maximum concurrency (README, "Choosing the batch and the
 * timeout"): Dfns' limit, not Lambda, sets the pace (each token is 3 requests, so the budget ÷ 3 tokens per minute),
 * and each of `eventSourceMaxConcurrency` containers holds an equal share of the budget. Once the budget is in use,
 * an invocation can start `dfnsRequestsPerMinute ÷ eventSourceMaxConcurrency × (functionTimeoutSeconds −
 * deadlineMarginMs) ÷ 60 s ÷ 3` tokens ({@link invocationShare}); the tokens of its batch beyond that go on in
 * continuations (late, never lost). The examples size a batch so that records of two tokens each fill at most that
 * share:
 * - fewer containers: larger shares for the same budget (and one request on an idle deployment, which one container
 *   serves alone, goes faster); Lambda's minimum is 2. Concurrency is not what limits containment: 2 or 3
 *   invocations with 8 flows each could send far more than any organisation allows.
 * - a longer timeout: a larger share per invocation, but the visibility timeout (≥ 6 × timeout + window) is also how
 *   long a record waits after a crash before it is delivered again (6 minutes at 60 s, 12 at 120 s); a continuation
 *   costs a message and waits only until the budget has room, which the token would have waited for anyway. So the
 *   timeout stays at 60 s.
 * - smaller batches: less work per invocation, so fewer records end in a continuation (each record with late tokens
 *   sends one), at the price of more invocations (a source proof each) when many records wait.
 * - the batching window: how long Lambda gathers a batch; 1 s costs a second of latency and fills batches in a
 *   burst.
 */
export const ENVIRONMENTS: Record<EnvironmentName, EnvironmentInput> = {
  dev: {
    account: '111111111111',
    region: 'eu-west-1',
    dfnsApiUrl: 'https://api.dfns.io',
    credentialSecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:pat-revoker/dfns-credential-Ab12Cd',
    allowedSenders: {
      roleArns: ['arn:aws:iam::111111111111:role/incident-playbook-runner'],
      snsTopicArns: ['arn:aws:sns:eu-west-1:111111111111:siem-alerts'],
    },
    operatorRoleArns: ['arn:aws:iam::111111111111:role/security-operator'],
    breakGlassRoleArn: 'arn:aws:iam::111111111111:role/break-glass',
    alarmEmails: ['security-dev@example.com'],
    // A Trial organisation (100 requests per minute) shared with the team's own tests.
    dfnsOrganisation: 'example-trial',
    dfnsOrganisationRequestsPerMinute: 100,
    // A third of it, in two larger shares (15 requests, 5 tokens, per container per minute), with batches about the
    // size of a share: 30 ÷ 2 × (60 − 5) s ÷ 60 s = 13.75 requests, 4.6 tokens per invocation, 2 records of 2 tokens.
    dfnsRequestsPerMinute: 30,
    eventSourceMaxConcurrency: 2,
    batchSize: 2,
    batchingWindowSeconds: 1,
    functionTimeoutSeconds: 60,
    dryRun: true,
    logRetentionDays: 30,
    removalPolicy: 'destroy',
  },
  staging: {
    account: '222222222222',
    region: 'eu-west-1',
    dfnsApiUrl: 'https://api.dfns.io',
    credentialSecretArn: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:pat-revoker/dfns-credential-Ef34Gh',
    allowedSenders: {
      roleArns: ['arn:aws:iam::222222222222:role/incident-playbook-runner'],
      snsTopicArns: ['arn:aws:sns:eu-west-1:222222222222:siem-alerts'],
      eventBridgeRuleArns: ['arn:aws:events:eu-west-1:222222222222:rule/leaked-pat-detected'],
    },
    operatorRoleArns: ['arn:aws:iam::222222222222:role/security-operator'],
    breakGlassRoleArn: 'arn:aws:iam::222222222222:role/break-glass',
    alarmEmails: ['security-staging@example.com'],
    // An organisation of its own: a rehearsal must not spend prod's budget, nor be throttled by prod's incidents.
    dfnsOrganisation: 'example-staging',
    dfnsOrganisationRequestsPerMinute: 1000,
    // prod's batches and timeout on a smaller budget, on the fewest containers: 150 ÷ 2 × (60 − 5) s ÷ 60 s = 68.75
    // requests, 22.9 tokens per invocation: a batch of 5 records of 4 tokens each.
    dfnsRequestsPerMinute: 150,
    eventSourceMaxConcurrency: 2,
    batchSize: 5,
    batchingWindowSeconds: 1,
    functionTimeoutSeconds: 60,
    logRetentionDays: 90,
    removalPolicy: 'destroy',
  },
  prod: {
    account: '333333333333',
    region: 'eu-west-1',
    dfnsApiUrl: 'https://api.dfns.io',
    credentialSecretArn: 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:pat-revoker/dfns-credential-Ij56Kl',
    allowedSenders: {
      roleArns: [
        'arn:aws:iam::333333333333:role/incident-playbook-runner',
        'arn:aws:iam::444444444444:role/siem-forwarder',
      ],
      snsTopicArns: ['arn:aws:sns:eu-west-1:333333333333:siem-alerts'],
      eventBridgeRuleArns: ['arn:aws:events:eu-west-1:333333333333:rule/leaked-pat-detected'],
    },
    operatorRoleArns: [
      'arn:aws:iam::333333333333:role/security-operator',
      'arn:aws:iam::333333333333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_SecOps_0123456789abcdef',
    ],
    breakGlassRoleArn: 'arn:aws:iam::333333333333:role/break-glass',
    credentialRotationRoleArn: 'arn:aws:iam::333333333333:role/dfns-credential-rotation',
    alarmEmails: ['security-oncall@example.com', 'secops-pager@example.com'],
    dfnsOrganisation: 'example-prod',
    dfnsOrganisationRequestsPerMinute: 1000,
    // 600 of the organisation's 1000 per minute: 200 tokens per minute, the rest for its own wallets and apps.
    dfnsRequestsPerMinute: 600,
    // Three shares of 200 requests per minute: 600 ÷ 3 × (60 − 5) s ÷ 60 s = 183 requests, 61 tokens per invocation
    // (10 containers and batches of 10 gave 18 tokens for 10 records). One record per invocation: a large incident's
    // records and their continuations spread over the three containers instead of queuing behind one batch, so every
    // share is used to the end (npm run bench -- --incident: 98.9 % of the ideal with 1, 93.7 % with batches of 5).
    eventSourceMaxConcurrency: 3,
    batchSize: 1,
    batchingWindowSeconds: 1,
    functionTimeoutSeconds: 60,
    // A sender in another account (the SIEM) needs a key it can be granted: a customer-managed KMS key.
    queueEncryption: 'kms',
    logRetentionDays: 365,
    removalPolicy: 'retain',
  },
};
