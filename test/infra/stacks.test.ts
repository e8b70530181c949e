/**
 * The synthesized stacks of every environment (bundling skipped; the real bundle is tested in bundle.test.ts):
 * each security default, the sender allow-list, exact IAM resources, the alarms, cdk-nag, cfn-lint, snapshots.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { nagAcknowledgements } from '../../infra/nag.js';
import {
  deployedEnvironment,
  ENVIRONMENT_NAMES,
  ENVIRONMENTS,
  invocationShare,
  resolveSettings,
  selectEnvironments,
  SettingsError,
  type EnvironmentInput,
  type EnvironmentName,
  type EnvironmentSettings,
} from '../../infra/environments.js';
import { environmentBytes, LAMBDA_ENVIRONMENT_MAX_BYTES } from '../../infra/function-environment.js';
import { scratchDir, synthesize, type Synthesized } from '../support/cdk.js';
import { deniedBy, type Caller } from '../support/iam-policy.js';

let synthesized: Map<string, Synthesized>;
beforeAll(() => {
  synthesized = synthesize().byName;
});

const get = (name: EnvironmentName) => synthesized.get(name) as Synthesized;
const settingsOf = (name: EnvironmentName): EnvironmentSettings => resolveSettings(name, ENVIRONMENTS[name]);

/** The only resource of a type in a template, with its logical ID. */
function only(template: Template, type: string, props: Record<string, unknown> = {}): [string, any] {
  const found = Object.entries(template.findResources(type, props ? { Properties: Match.objectLike(props) } : {}));
  expect(found).toHaveLength(1);
  return found[0] as [string, any];
}

/** The queue policy statements of the queue with this logical ID. */
function policyStatements(template: Template, queueId: string): any[] {
  const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')).filter((p: any) =>
    p.Properties.Queues.some((q: any) => q.Ref === queueId),
  );
  expect(policies).toHaveLength(1);
  return (policies[0] as any).Properties.PolicyDocument.Statement;
}

describe.each(ENVIRONMENT_NAMES)('%s', (name) => {
  let template: Template;
  let settings: EnvironmentSettings;
  let queueId: string;
  let dlqId: string;
  let queue: any;
  let dlq: any;
  beforeAll(() => {
    template = get(name).template;
    settings = settingsOf(name);
    [queueId, queue] = only(template, 'AWS::SQS::Queue', { QueueName: `pat-revoker-${name}-requests` });
    [dlqId, dlq] = only(template, 'AWS::SQS::Queue', { QueueName: `pat-revoker-${name}-requests-dlq` });
  });
  /** The conditions of a grant of the queue key: through SQS, for these queues (encryption context). */
  const sqsKey = (queueArns: unknown[]) => ({
    StringEquals: {
      'kms:ViaService': `sqs.${settings.region}.amazonaws.com`,
      'kms:EncryptionContext:aws:sqs:arn': queueArns,
    },
  });
  const queueArnOf = (queueName: string) => `arn:aws:sqs:${settings.region}:${settings.account}:${queueName}`;

  describe('queues', () => {
    it('are standard queues encrypted at rest as configured', () => {
      for (const q of [queue, dlq]) {
        expect(q.Properties.FifoQueue).toBeUndefined();
        if (settings.queueEncryption === 'kms') {
          expect(q.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
          expect(q.Properties.SqsManagedSseEnabled).toBeUndefined();
        } else {
          expect(q.Properties.SqsManagedSseEnabled).toBe(true);
          expect(q.Properties.KmsMasterKeyId).toBeUndefined();
        }
      }
      if (settings.queueEncryption === 'kms') {
        template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      } else {
        template.resourceCountIs('AWS::KMS::Key', 0);
      }
    });

    it('redrive to the DLQ after maxReceiveCount deliveries', () => {
      expect(queue.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: settings.maxReceiveCount,
      });
    });

    it('keep DLQ messages 14 days and accept redrives from the source queue only', () => {
      expect(dlq.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      expect(dlq.Properties.RedriveAllowPolicy).toEqual({
        redrivePermission: 'byQueue',
        sourceQueueArns: [`arn:aws:sqs:${settings.region}:${settings.account}:pat-revoker-${name}-requests`],
      });
    });

    it('hold a record invisible for at least 6 × the function timeout + the batching window', () => {
      const minimum = 6 * settings.functionTimeoutSeconds + settings.batchingWindowSeconds;
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(minimum);
      expect(queue.Properties.VisibilityTimeout).toBe(settings.visibilityTimeoutSeconds);
    });

    it('deny every request without TLS, on both queues', () => {
      for (const id of [queueId, dlqId]) {
        expect(policyStatements(template, id)).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
    });

    it('let only the configured senders, the operators and the function (its continuations) send', () => {
      const statements = policyStatements(template, queueId).filter((s) => s.Action === 'sqs:SendMessage');
      const { snsTopicArns = [], eventBridgeRuleArns = [] } = settings.allowedSenders;
      const roleArns = [...(settings.allowedSenders.roleArns ?? []), ...settings.operatorRoleArns];
      const expected: any[] = [];
      if (roleArns.length) {
        expected.push({
          Sid: 'AllowConfiguredRoles',
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          // CDK sorts the principals of one statement
          Principal: { AWS: roleArns.length === 1 ? roleArns[0] : [...roleArns].sort() },
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
        });
      }
      const service = (Sid: string, principal: string, arns: string[]) => ({
        Sid,
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Principal: { Service: principal },
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
        Condition: { ArnEquals: { 'aws:SourceArn': arns } },
      });
      if (snsTopicArns.length) expected.push(service('AllowSnsTopics', 'sns.amazonaws.com', snsTopicArns));
      if (eventBridgeRuleArns.length)
        expected.push(service('AllowEventBridgeRules', 'events.amazonaws.com', eventBridgeRuleArns));
      expected.push({
        Sid: 'DenyOtherSenders',
        Effect: 'Deny',
        Action: 'sqs:SendMessage',
        Principal: { AWS: '*' },
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
        Condition: {
          Null: { 'aws:SourceArn': 'true' },
          // The function's role sends its continuations (CONTRACT section 8).
          ArnNotEquals: {
            'aws:PrincipalArn': [...roleArns, { 'Fn::GetAtt': [only(template, 'AWS::IAM::Role')[0], 'Arn'] }],
          },
        },
      });
      expect(statements).toEqual(expected);
    });

    it('let only the function write to the DLQ (SQS itself moves records there without an IAM principal)', () => {
      const [roleId] = only(template, 'AWS::IAM::Role');
      const statements = policyStatements(template, dlqId);
      // the one Allow names break-glass as a principal, so that a deploy fails if that role does not exist
      expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([
        {
          Sid: 'AllowBreakGlassToInspect',
          Effect: 'Allow',
          Action: 'sqs:GetQueueAttributes',
          Principal: { AWS: settings.breakGlassRoleArn },
          Resource: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        },
      ]);
      expect(statements).toContainEqual({
        Sid: 'DenyOtherWriters',
        Effect: 'Deny',
        Action: 'sqs:SendMessage',
        Principal: { AWS: '*' },
        Resource: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        Condition: {
          Null: { 'aws:PrincipalArn': 'false' },
          ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::GetAtt': [roleId, 'Arn'] }] },
        },
      });
    });

    it('let senders and operators use the queue key only through SQS for these queues, services only for their configured sources', () => {
      if (settings.queueEncryption !== 'kms') return expect(template.findResources('AWS::KMS::Key')).toEqual({});
      const [, key] = only(template, 'AWS::KMS::Key');
      const statements = key.Properties.KeyPolicy.Statement;
      const { roleArns = [], snsTopicArns = [], eventBridgeRuleArns = [] } = settings.allowedSenders;
      const requests = queueArnOf(`pat-revoker-${name}-requests`);
      const deadLetters = queueArnOf(`pat-revoker-${name}-requests-dlq`);
      const principal = (arns: string[]) => ({ AWS: arns.length === 1 ? arns[0] : [...arns].sort() });
      expect(statements).toContainEqual({
        Sid: 'AllowConfiguredRolesToUseKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Principal: principal(roleArns),
        Resource: '*',
        Condition: sqsKey([requests]),
      });
      expect(statements).toContainEqual({
        Sid: 'AllowOperatorsToUseKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Principal: principal(settings.operatorRoleArns),
        Resource: '*',
        Condition: sqsKey([requests, deadLetters]),
      });
      const service = (Sid: string, Service: string, arns: string[]) => ({
        Sid,
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Principal: { Service },
        Resource: '*',
        Condition: { ArnEquals: { 'aws:SourceArn': arns } },
      });
      if (snsTopicArns.length)
        expect(statements).toContainEqual(service('AllowSnsTopicsToUseKey', 'sns.amazonaws.com', snsTopicArns));
      if (eventBridgeRuleArns.length) {
        expect(statements).toContainEqual(
          service('AllowEventBridgeRulesToUseKey', 'events.amazonaws.com', eventBridgeRuleArns),
        );
      }
      // nobody but the account root and these gets the key
      expect(
        statements.filter(
          (st: any) =>
            ![
              'AllowConfiguredRolesToUseKey',
              'AllowOperatorsToUseKey',
              'AllowSnsTopicsToUseKey',
              'AllowEventBridgeRulesToUseKey',
            ].includes(st.Sid),
        ),
      ).toEqual([
        {
          Effect: 'Allow',
          Action: 'kms:*',
          Principal: { AWS: `arn:aws:iam::${settings.account}:root` },
          Resource: '*',
        },
      ]);
    });
  });

  describe('function', () => {
    let fn: any;
    beforeAll(() => {
      [, fn] = only(template, 'AWS::Lambda::Function');
    });

    it('runs on nodejs24.x, arm64, traced, with the configured timeout and memory, and no reserved concurrency', () => {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Timeout: settings.functionTimeoutSeconds,
        MemorySize: settings.memoryMb,
        Handler: 'index.handler',
      });
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    });

    it('gets every CONTRACT section 2 variable from the settings', () => {
      expect(fn.Properties.Environment.Variables).toEqual({
        DFNS_API_URL: settings.dfnsApiUrl,
        DFNS_CREDENTIALS_SECRET_ID: settings.credentialSecretArn,
        DEAD_LETTER_QUEUE_URL: { Ref: dlqId },
        PROTECTED_TOKEN_IDS: settings.protectedTokenIds.join(','),
        DRY_RUN: String(settings.dryRun),
        MAX_CONCURRENCY: String(settings.maxConcurrency),
        DFNS_REQUEST_TIMEOUT_MS: String(settings.dfnsRequestTimeoutMs),
        DFNS_MAX_ATTEMPTS: String(settings.dfnsMaxAttempts),
        DEADLINE_MARGIN_MS: String(settings.deadlineMarginMs),
        MAX_RECEIVE_COUNT: String(settings.maxReceiveCount),
        DFNS_REQUESTS_PER_MINUTE: String(settings.dfnsRequestsPerMinute),
        EVENT_SOURCE_MAX_CONCURRENCY: String(settings.eventSourceMaxConcurrency),
        SOURCE_QUEUE_URLS: { Ref: queueId },
        FUNCTION_ROLE_ID: { 'Fn::GetAtt': [fn.Properties.Role['Fn::GetAtt'][0], 'RoleId'] },
        POWERTOOLS_SERVICE_NAME: 'pat-revoker',
        POWERTOOLS_METRICS_NAMESPACE: 'PatRevoker',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
    });

    it("is measured at synth as deployed: every variable, the queue URLs and the role's ID at their real length", () => {
      const measured = deployedEnvironment(settings);
      const deployed = fn.Properties.Environment.Variables;
      expect(Object.keys(measured).sort()).toEqual(Object.keys(deployed).sort());
      for (const [variable, value] of Object.entries(deployed)) {
        if (typeof value === 'string') expect([variable, measured[variable]]).toEqual([variable, value]);
      }
      // What CloudFormation fills in: the queue URLs (Ref) and the role's unique ID (AROA + 17 characters)
      const sqs = `https://sqs.${settings.region}.amazonaws.com/${settings.account}`;
      expect(deployed.DEAD_LETTER_QUEUE_URL).toEqual({ Ref: dlqId });
      expect(measured.DEAD_LETTER_QUEUE_URL).toBe(`${sqs}/pat-revoker-${name}-requests-dlq`);
      expect(deployed.SOURCE_QUEUE_URLS).toEqual({ Ref: queueId });
      expect(measured.SOURCE_QUEUE_URLS).toBe(`${sqs}/pat-revoker-${name}-requests`);
      expect(deployed.FUNCTION_ROLE_ID).toEqual({ 'Fn::GetAtt': [fn.Properties.Role['Fn::GetAtt'][0], 'RoleId'] });
      expect(measured.FUNCTION_ROLE_ID).toMatch(/^AROA[A-Z0-9]{17}$/);
      expect(environmentBytes(measured)).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_MAX_BYTES);
    });

    it("shares the environment's Dfns budget by the mapping's own maximum concurrency", () => {
      const [, mapping] = only(template, 'AWS::Lambda::EventSourceMapping');
      expect(fn.Properties.Environment.Variables.EVENT_SOURCE_MAX_CONCURRENCY).toBe(
        String(mapping.Properties.ScalingConfig.MaximumConcurrency),
      );
      // Every container's share holds at least one token's three requests.
      expect(settings.dfnsRequestsPerMinute / settings.eventSourceMaxConcurrency).toBeGreaterThanOrEqual(3);
    });

    it('sends its continuations to its own queue: allowed to, and Lambda does not cut the loop after 16 hops', () => {
      expect(fn.Properties.RecursiveLoop).toBe('Allow');
      const [, policy] = only(template, 'AWS::IAM::Policy', { Roles: [{ Ref: fn.Properties.Role['Fn::GetAtt'][0] }] });
      const statements = policy.Properties.PolicyDocument.Statement;
      expect(statements).toContainEqual({
        Sid: 'SendContinuations',
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
      });
      const encrypt = statements.find((st: any) => st.Sid === 'EncryptContinuations');
      if (settings.queueEncryption === 'kms') {
        expect(encrypt).toMatchObject({
          Action: 'kms:GenerateDataKey',
          Condition: sqsKey([{ 'Fn::GetAtt': [queueId, 'Arn'] }]),
        });
      } else {
        expect(encrypt).toBeUndefined();
      }
    });

    it('logs JSON to its own log group with the configured retention, at an application level of INFO (audit lines survive)', () => {
      const [logGroupId, logGroup] = only(template, 'AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(settings.logRetentionDays);
      expect(logGroup.DeletionPolicy).toBe(settings.removalPolicy === 'retain' ? 'Retain' : 'Delete');
      expect(fn.Properties.LoggingConfig).toEqual({
        LogGroup: { Ref: logGroupId },
        LogFormat: 'JSON',
        ApplicationLogLevel: 'INFO',
      });
    });

    it("may prove its records' source on every queue of SOURCE_QUEUE_URLS: granted, and not denied by the queue policy", () => {
      const sources = [fn.Properties.Environment.Variables.SOURCE_QUEUE_URLS];
      expect(sources).toEqual([{ Ref: queueId }]);
      const [roleId] = only(template, 'AWS::IAM::Role');
      const [, policy] = only(template, 'AWS::IAM::Policy');
      const granted: any[] = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Allow');
      const role: Caller = { principalArn: { 'Fn::GetAtt': [roleId, 'Arn'] } };
      for (const { Ref: id } of sources) {
        const arn = { 'Fn::GetAtt': [id, 'Arn'] };
        for (const action of ['sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes']) {
          const grants = granted.filter(
            (s) => [s.Action].flat().includes(action) && JSON.stringify(s.Resource) === JSON.stringify(arn),
          );
          expect([action, grants.length]).toEqual([action, 1]);
          expect([action, deniedBy(policyStatements(template, id), role, action, arn)]).toEqual([action, []]);
        }
      }
    });

    it('is triggered with partial batch responses and the configured batching and concurrency', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: settings.batchSize,
        MaximumBatchingWindowInSeconds: settings.batchingWindowSeconds,
        ScalingConfig: { MaximumConcurrency: settings.eventSourceMaxConcurrency },
      });
    });

    it('has a role with only: that secret, that DLQ, its logs, traces, and consuming its queue, keys through their service for these resources', () => {
      const [roleId, role] = only(template, 'AWS::IAM::Role');
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
      const [, policy] = only(template, 'AWS::IAM::Policy');
      expect(policy.Properties.Roles).toEqual([{ Ref: roleId }]);
      const [logGroupId] = only(template, 'AWS::Logs::LogGroup');
      const keyArn =
        settings.queueEncryption === 'kms' ? { 'Fn::GetAtt': [only(template, 'AWS::KMS::Key')[0], 'Arn'] } : undefined;
      const statements = policy.Properties.PolicyDocument.Statement;
      const expected: any[] = [
        {
          Sid: 'OwnLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: [
            { 'Fn::GetAtt': [logGroupId, 'Arn'] },
            { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logGroupId, 'Arn'] }, ':log-stream:*']] },
          ],
        },
        {
          Sid: 'ReadDfnsCredential',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: settings.credentialSecretArn,
        },
        ...(settings.credentialSecretKmsKeyArn
          ? [
              {
                Sid: 'DecryptDfnsCredential',
                Effect: 'Allow',
                Action: 'kms:Decrypt',
                Resource: settings.credentialSecretKmsKeyArn,
                Condition: {
                  StringEquals: {
                    'kms:ViaService': `secretsmanager.${settings.region}.amazonaws.com`,
                    'kms:EncryptionContext:SecretARN': settings.credentialSecretArn,
                  },
                },
              },
            ]
          : []),
        {
          Sid: 'SendToDeadLetterQueue',
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Resource: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        },
        { Effect: 'Allow', Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' },
        {
          Sid: 'ConsumeRequests',
          Effect: 'Allow',
          Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
        },
        {
          Sid: 'SendContinuations',
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
        },
        ...(keyArn
          ? [
              {
                Sid: 'EncryptContinuations',
                Effect: 'Allow',
                Action: 'kms:GenerateDataKey',
                Resource: keyArn,
                Condition: sqsKey([{ 'Fn::GetAtt': [queueId, 'Arn'] }]),
              },
              {
                Sid: 'DecryptRequests',
                Effect: 'Allow',
                Action: 'kms:Decrypt',
                Resource: keyArn,
                Condition: sqsKey([{ 'Fn::GetAtt': [queueId, 'Arn'] }]),
              },
              {
                Sid: 'EncryptForDeadLetterQueue',
                Effect: 'Allow',
                Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
                Resource: keyArn,
                Condition: sqsKey([{ 'Fn::GetAtt': [dlqId, 'Arn'] }]),
              },
            ]
          : []),
      ];
      // Order is CDK's business; the set of statements is ours.
      expect(statements).toHaveLength(expected.length);
      expect(statements).toEqual(expect.arrayContaining(expected));
    });
  });

  describe('alarms', () => {
    let topicId: string;
    let alarms: any[];
    beforeAll(() => {
      [topicId] = only(template, 'AWS::SNS::Topic');
      alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    });
    /** The one alarm on this metric: its description, and its other properties. */
    const theAlarmOn = (metricName: string) => {
      const found = alarms.filter((a) => a.Properties.MetricName === metricName);
      expect(found).toHaveLength(1);
      const { AlarmDescription: description, ...properties } = found[0].Properties;
      return { description, properties };
    };

    it('page the configured addresses through a TLS-only topic CloudWatch may publish to', () => {
      const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription')).map(
        (s: any) => s.Properties,
      );
      expect(subscriptions).toEqual(
        settings.alarmEmails.map((Endpoint) => ({ Protocol: 'email', Endpoint, TopicArn: { Ref: topicId } })),
      );
      const [, policy] = only(template, 'AWS::SNS::TopicPolicy');
      const statements = policy.Properties.PolicyDocument.Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
      // The topic policy replaces SNS' default one: without this statement no alarm could publish.
      expect(statements).toContainEqual({
        Sid: 'AllowCloudWatchAlarms',
        Effect: 'Allow',
        Action: 'sns:Publish',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Resource: { Ref: topicId },
        Condition: {
          StringEquals: { 'aws:SourceAccount': settings.account },
          ArnLike: { 'aws:SourceArn': `arn:aws:cloudwatch:${settings.region}:${settings.account}:alarm:*` },
        },
      });
    });

    it('every alarm but the warning pages: one datapoint (Dfns throttles: 3 of 5), missing data not breaching, SNS action', () => {
      const paging = alarms.filter((a) => a.Properties.AlarmActions);
      expect(paging).toHaveLength(settings.dryRun ? 10 : 11);
      expect(alarms.length - paging.length).toBe(1);
      for (const alarm of paging) {
        const throttles = alarm.Properties.MetricName === 'DfnsThrottles';
        expect(alarm.Properties).toMatchObject({
          EvaluationPeriods: throttles ? 5 : 1,
          DatapointsToAlarm: throttles ? 3 : 1,
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: topicId }],
          OKActions: [{ Ref: topicId }],
        });
        expect(alarm.Properties.AlarmDescription).toEqual(expect.any(String));
        // CloudWatch's limit for a description
        expect(alarm.Properties.AlarmDescription.length).toBeLessThanOrEqual(1024);
      }
    });

    it('pages when Dfns throttles persist: DfnsThrottles ≥ 1 in 3 of 5 minutes, saying why and what to check', () => {
      const { description, properties } = theAlarmOn('DfnsThrottles');
      expect(properties).toEqual({
        Namespace: 'PatRevoker',
        MetricName: 'DfnsThrottles',
        Dimensions: [{ Name: 'service', Value: 'pat-revoker' }],
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 5,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topicId }],
        OKActions: [{ Ref: topicId }],
      });
      for (const words of [
        '429',
        `organisation ${settings.dfnsOrganisation}`,
        `${settings.dfnsOrganisationRequestsPerMinute} requests per minute`,
        `budget (${settings.dfnsRequestsPerMinute} per minute, DFNS_REQUESTS_PER_MINUTE)`,
        'set above what it really allows',
        'another caller floods it',
        'late, not lost',
        'Check:',
        'infra/environments.ts',
        'lower dfnsRequestsPerMinute',
      ]) {
        expect(description).toContain(words);
      }
    });

    it('warns, without paging, when continuations pile up: ≥ 10 delayed messages on the request queue for 15 minutes', () => {
      const warnings = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(
        ([, a]: [string, any]) => !a.Properties.AlarmActions,
      );
      expect(warnings.map(([id]) => id)).toEqual([expect.stringMatching(/^AlarmsWarningContinuationBacklog/)]);
      const { description, properties } = theAlarmOn('ApproximateNumberOfMessagesDelayed');
      // no action of any kind: it shows on the dashboard and in the console, it never pages
      expect(properties).toEqual({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesDelayed',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 10,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 15,
        DatapointsToAlarm: 15,
        TreatMissingData: 'notBreaching',
      });
      expect(description).toMatch(/^WARNING, does not page: /);
      expect(description.length).toBeLessThanOrEqual(1024);
      for (const words of [
        'continuations pile up',
        `${settings.dfnsRequestsPerMinute} requests, ${Math.floor(settings.dfnsRequestsPerMinute / 3)} tokens, per minute`,
        'late, not lost',
        'raise dfnsRequestsPerMinute',
        'dead-lettered, which pages',
      ]) {
        expect(description).toContain(words);
      }
    });

    it('pages on a function-wide dry run where the settings say it is off (DRY_RUN changed outside the stack)', () => {
      const dryRunAlarms = alarms.filter((a) => a.Properties.MetricName === 'DryRunActive');
      if (settings.dryRun) {
        expect(dryRunAlarms).toEqual([]);
      } else {
        expect(dryRunAlarms).toHaveLength(1);
        expect(dryRunAlarms[0].Properties).toMatchObject({
          Namespace: 'PatRevoker',
          Dimensions: [{ Name: 'service', Value: 'pat-revoker' }],
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    });

    it('pages on ForgedRecords ≥ 1 in every environment, saying what it means and where to look', () => {
      const { description, properties } = theAlarmOn('ForgedRecords');
      expect(properties).toMatchObject({
        Namespace: 'PatRevoker',
        Dimensions: [{ Name: 'service', Value: 'pat-revoker' }],
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      for (const words of [
        'did not come from its queue',
        'forged SQS event',
        'event source mapping',
        'CloudTrail',
        'Invoke',
      ]) {
        expect(description).toContain(words);
      }
    });

    const alarmOn = (metricName: string, dimensions?: Record<string, unknown>) => {
      const sorted = (dims: Array<{ Name: string }>) =>
        JSON.stringify([...dims].sort((x, y) => x.Name.localeCompare(y.Name)));
      const matches = alarms.filter(
        (a) =>
          a.Properties.MetricName === metricName &&
          (!dimensions ||
            sorted(a.Properties.Dimensions) ===
              sorted(Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })))),
      );
      expect(matches).toHaveLength(1);
      return matches[0].Properties;
    };

    it('DLQ depth ≥ 1 (maximum)', () => {
      expect(alarmOn('ApproximateNumberOfMessagesVisible')).toMatchObject({
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('oldest request above the revocation SLO', () => {
      expect(alarmOn('ApproximateAgeOfOldestMessage')).toMatchObject({
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: settings.revocationSloSeconds,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it('function errors ≥ 1, throttles ≥ 1, p99 duration above 80 % of the timeout', () => {
      expect(alarmOn('Errors')).toMatchObject({
        Namespace: 'AWS/Lambda',
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(alarmOn('Throttles')).toMatchObject({ Namespace: 'AWS/Lambda', Statistic: 'Sum', Threshold: 1 });
      expect(alarmOn('Duration')).toMatchObject({
        Namespace: 'AWS/Lambda',
        ExtendedStatistic: 'p99',
        Threshold: settings.functionTimeoutSeconds * 1000 * 0.8,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it.each(['failed', 'protected', 'pending_approval'])(
      'Revocations with Outcome=%s ≥ 1, exactly as the function emits it',
      (outcome) => {
        expect(alarmOn('Revocations', { Outcome: outcome, service: 'pat-revoker' })).toMatchObject({
          Namespace: 'PatRevoker',
          Statistic: 'Sum',
          Period: 60,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      },
    );
  });

  describe('dashboard: the Dfns request budget', () => {
    let widgets: any[];
    beforeAll(() => {
      const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
      // The body is a Fn::Join of strings and references: joined with the references as placeholders, it parses.
      const [, parts] = dashboard.Properties.DashboardBody['Fn::Join'];
      const body = parts.map((p: unknown) =>
        typeof p === 'string' ? p : `{{${JSON.stringify(p).replace(/"/g, "'")}}}`,
      );
      widgets = JSON.parse(body.join('')).widgets;
    });
    const graph = (title: string) => {
      const found = widgets.filter((w) => w.properties.title === title);
      expect(found).toHaveLength(1);
      return found[0].properties;
    };
    const service = ['service', 'pat-revoker'];

    it('shows Dfns throttles per minute (DfnsThrottles, Sum) with the paging threshold', () => {
      const widget = graph('Dfns throttles (429s) per minute');
      expect(widget.metrics).toEqual([['PatRevoker', 'DfnsThrottles', ...service, { stat: 'Sum', period: 60 }]]);
      expect(widget.annotations.horizontal).toEqual([
        { value: 1, label: 'pages at ≥ 1 in 3 of 5 minutes', yAxis: 'left' },
      ]);
    });

    it('shows the budget wait per invocation (BudgetWaitMs, average and maximum)', () => {
      expect(graph('Budget wait per invocation (ms)').metrics).toEqual([
        ['PatRevoker', 'BudgetWaitMs', ...service, { label: 'average', period: 60 }],
        ['PatRevoker', 'BudgetWaitMs', ...service, { label: 'maximum', stat: 'Maximum', period: 60 }],
      ]);
    });

    it('shows continuations sent (Continuations, Sum) and waiting (delayed messages), with the warning threshold', () => {
      const widget = graph('Continuations sent per minute, and waiting (delayed messages)');
      expect(widget.metrics).toEqual([
        ['PatRevoker', 'Continuations', ...service, { label: 'continuations sent', stat: 'Sum', period: 60 }],
        [
          'AWS/SQS',
          'ApproximateNumberOfMessagesDelayed',
          'QueueName',
          `{{{'Fn::GetAtt':['${queueId}','QueueName']}}}`,
          { label: 'delayed on the request queue', stat: 'Maximum', period: 60, yAxis: 'right' },
        ],
      ]);
      expect(widget.annotations.horizontal).toEqual([{ value: 10, label: 'warning after 15 minutes', yAxis: 'right' }]);
    });

    it('shows tokens per minute (Revocations summed over the outcomes that reach Dfns) against the budget ÷ 3', () => {
      const widget = graph('Tokens per minute against the budget');
      const reachDfns = ['deactivated', 'already_inactive', 'pending_approval', 'not_found', 'rejected', 'failed'];
      const [expression, ...metrics] = widget.metrics;
      expect(expression).toEqual([
        expect.objectContaining({ expression: `SUM([${reachDfns.map((o) => `r_${o}`).join(', ')}])`, period: 60 }),
      ]);
      expect(metrics).toEqual(
        reachDfns.map((outcome) => [
          'PatRevoker',
          'Revocations',
          'Outcome',
          outcome,
          ...service,
          { stat: 'Sum', period: 60, visible: false, id: `r_${outcome}` },
        ]),
      );
      expect(widget.annotations.horizontal).toEqual([
        {
          value: settings.dfnsRequestsPerMinute / 3,
          label: `budget: ${settings.dfnsRequestsPerMinute} ÷ 3`,
          yAxis: 'left',
        },
      ]);
    });

    it('shows the state of the throttle page and the backlog warning, and explains the budget', () => {
      const [status] = widgets.filter((w) => w.type === 'alarm');
      const alarmIds = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
      const idOf = (prefix: string) => alarmIds.find((id) => id.startsWith(prefix));
      expect(status.properties.alarms).toEqual([
        `{{{'Fn::GetAtt':['${idOf('AlarmsDfnsThrottles')}','Arn']}}}`,
        `{{{'Fn::GetAtt':['${idOf('AlarmsWarningContinuationBacklog')}','Arn']}}}`,
      ]);
      const notes = widgets.filter((w) => w.type === 'text').map((w) => w.properties.markdown);
      expect(notes).toContainEqual(
        expect.stringContaining(
          `${settings.dfnsRequestsPerMinute} requests per minute of organisation ${settings.dfnsOrganisation}'s ${settings.dfnsOrganisationRequestsPerMinute}: at most ${Math.floor(settings.dfnsRequestsPerMinute / 3)} tokens per minute`,
        ),
      );
    });
  });

  it('has a dashboard with revocations per outcome, queues, DLQ and function widgets, and explanations', () => {
    const [, dashboard] = only(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const text of [
      'Revocations per outcome',
      'Request queue',
      'Dead-letter queue depth',
      'Function errors',
      'duration p99',
      'redrive',
    ]) {
      expect(body).toContain(text);
    }
    for (const outcome of [
      'deactivated',
      'already_inactive',
      'dry_run',
      'invalid',
      'not_found',
      'rejected',
      'failed',
      'protected',
      'pending_approval',
    ]) {
      expect(body).toMatch(new RegExp(`Revocations[\\\\"]+,[\\\\"]+Outcome[\\\\"]+,[\\\\"]+${outcome}[\\\\"]`));
    }
  });

  it('matches its snapshot (asset hashes stripped)', () => {
    const json = JSON.stringify(template.toJSON(), null, 2).replace(/[a-f0-9]{64}(\.zip)?/g, '<asset-hash>$1');
    expect(JSON.parse(json)).toMatchSnapshot();
  });
});

describe('cdk-nag', () => {
  it('passes every environment with only the documented acknowledgements, each with a reason', () => {
    // synthesize() above threw if any finding were unacknowledged; here: the acknowledgements are the known ones.
    const ids = nagAcknowledgements(get('prod').stack).map(([, a]) => a.id.replace(/<[^>]+>/, '<LogGroup>'));
    expect(ids).toEqual([
      'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::<LogGroup>:log-stream:*]',
      'Serverless::Serverless-SQSRedrivePolicy',
      'Serverless::Serverless-LambdaDLQ',
      'Serverless::Serverless-LambdaEventSourceMappingDestination',
      'Serverless::Serverless-EventBusDLQ',
      'Serverless::Serverless-EventBusDLQ',
      'Serverless::Serverless-SNSRedrivePolicy',
    ]);
    for (const [, acknowledgement] of nagAcknowledgements(get('prod').stack)) {
      expect(acknowledgement.reason.length).toBeGreaterThan(40);
    }
  });

  it('fails synth on a new, unacknowledged finding', () => {
    const outdir = scratchDir();
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      const stack = new Stack(app, 'Careless');
      new Queue(stack, 'Plain', { enforceSSL: false });
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

/** `n` distinct token IDs of the longest form (31 characters). */
const tokenIds = (n: number) => Array.from({ length: n }, (_, i) => `to-aaaaa-bbbbb-${String(i).padStart(16, '0')}`);

describe('settings', () => {
  const broken = (name: EnvironmentName, change: Partial<EnvironmentInput>) => ({
    ...ENVIRONMENTS,
    [name]: { ...ENVIRONMENTS[name], ...change },
  });
  const error = (environments: Record<EnvironmentName, EnvironmentInput>, only?: string): SettingsError => {
    try {
      selectEnvironments(only, environments);
    } catch (e) {
      return e as SettingsError;
    }
    throw new Error('expected a SettingsError');
  };

  it.each([
    [
      'prod.credentialSecretArn',
      broken('prod', {
        credentialSecretArn: 'arn:aws:secretsmanager:eu-west-1:333333333333:secret:pat-revoker/dfns-credential',
      }),
      /complete secret ARN/,
    ],
    [
      'prod.credentialSecretArn',
      broken('prod', { credentialSecretArn: 'arn:aws:secretsmanager:us-east-1:333333333333:secret:x-Ab12Cd' }),
      /is in us-east-1, the stack in eu-west-1/,
    ],
    [
      'prod.dfnsRequestsPerMinute',
      broken('prod', { dfnsRequestsPerMinute: 8 }),
      /at least 3 × eventSourceMaxConcurrency \(9\)/,
    ],
    [
      'dev.functionTimeoutSeconds',
      broken('dev', { functionTimeoutSeconds: 15 }),
      /^dev\.functionTimeoutSeconds: leaves one container 30 ÷ 2 requests per minute \(dfnsRequestsPerMinute ÷ eventSourceMaxConcurrency\) × 10 s \(functionTimeoutSeconds − deadlineMarginMs\) ÷ 60 s = 2\.50 requests per invocation, under one token's 3: .*Lower eventSourceMaxConcurrency \(fewer, larger shares\), raise functionTimeoutSeconds, or raise dfnsRequestsPerMinute/,
    ],
    [
      'prod.functionTimeoutSeconds',
      broken('prod', { eventSourceMaxConcurrency: 200, deadlineMarginMs: 50_000 }),
      /600 ÷ 200 requests per minute .* × 10 s .* = 0\.50 requests per invocation, under one token's 3/,
    ],
    [
      'dev.dfnsRequestsPerMinute + staging.dfnsRequestsPerMinute',
      broken('staging', { dfnsOrganisation: 'example-trial', dfnsOrganisationRequestsPerMinute: 100 }),
      /^dev\.dfnsRequestsPerMinute \+ staging\.dfnsRequestsPerMinute: 30 \+ 150 = 180 requests per minute, more than Dfns organisation "example-trial" allows \(dfnsOrganisationRequestsPerMinute 100, every caller together\): .*Lower them .*, or give an environment an organisation of its own \(dfnsOrganisation\)$/,
    ],
    [
      'prod.dfnsRequestsPerMinute',
      broken('prod', { dfnsRequestsPerMinute: 1200 }),
      /^prod\.dfnsRequestsPerMinute: 1200 requests per minute, more than Dfns organisation "example-prod" allows \(dfnsOrganisationRequestsPerMinute 1000, every caller together\): .*Lower it to leave room for the organisation's own traffic$/,
    ],
    [
      'staging.dfnsOrganisationRequestsPerMinute',
      broken('staging', { dfnsOrganisation: 'example-trial' }),
      /is 1000, but dev gives 100 for the same Dfns organisation "example-trial" \(dfnsOrganisation\): one organisation has one limit/,
    ],
    [
      'prod.dfnsOrganisationRequestsPerMinute',
      broken('prod', { dfnsOrganisationRequestsPerMinute: 600 }),
      /must be 1000 or 100: Dfns' limit per organisation/,
    ],
    ['prod.dfnsOrganisation', broken('prod', { dfnsOrganisation: 'Example Prod' }), /lower-case letters/],
    ['prod.dfnsOrganisation', broken('prod', { dfnsOrganisation: undefined } as never), /expected string/],
    ['dev.dfnsApiUrl', broken('dev', { dfnsApiUrl: 'http://api.dfns.io' }), /https/],
    ['dev.dfnsApiUrl', broken('dev', { dfnsApiUrl: 'https://api.dfns.io/v1' }), /origin/],
    ['dev.dfnsApiUrl', broken('dev', { dfnsApiUrl: 'https://dfns.attacker.example' }), /documented API origins/],
    ['staging.alarmEmails', broken('staging', { alarmEmails: [] }), /wake a human/],
    ['staging.alarmEmails[0]', broken('staging', { alarmEmails: ['oncall'] }), /e-mail address/],
    [
      'dev.operatorRoleArns',
      broken('dev', { operatorRoleArns: [] }),
      /at least one role: someone must be able to redrive/,
    ],
    ['dev.operatorRoleArns[0]', broken('dev', { operatorRoleArns: ['operator'] }), /must be an ARN like/],
    [
      'staging.breakGlassRoleArn',
      broken('staging', { breakGlassRoleArn: 'arn:aws:iam::222222222222:user/admin' }),
      /must be an ARN like/,
    ],
    [
      'prod.bootstrapQualifier',
      broken('prod', { bootstrapQualifier: 'Prod-Qualifier' }),
      /1 to 10 lower-case letters or digits/,
    ],
    [
      'prod.credentialRotationRoleArn',
      broken('prod', { credentialRotationRoleArn: 'rotation' }),
      /must be an ARN like/,
    ],
    [
      'dev.allowedSenders',
      broken('dev', {
        allowedSenders: { roleArns: ['arn:aws:iam::111111111111:role/r'], snsTopicArn: ['x'] } as never,
      }),
      /Unrecognized key.*snsTopicArn/,
    ],
    ['prod', broken('prod', { memorySize: 4096 } as never), /Unrecognized key.*memorySize/],
    ['prod.removalPolicy', broken('prod', { removalPolicy: 'destroy' }), /must be 'retain'/],
    [
      'prod.protectedTokenIds',
      broken('prod', { protectedTokenIds: tokenIds(120) }),
      /^prod\.protectedTokenIds: holds 120 token IDs: the function's environment would be \d{4} bytes, over Lambda's limit of 4096 \(4 KB for every variable, keys and values, .*\)\. At most \d+ fit beside the other settings/,
    ],
    [
      'prod.dfnsRequestTimeoutMs',
      broken('prod', { dfnsRequestTimeoutMs: 60_000 }),
      /shorter than the function timeout/,
    ],
    [
      'prod.credentialSecretKmsKeyArn',
      broken('prod', {
        credentialSecretKmsKeyArn: 'arn:aws:kms:us-east-1:333333333333:key/mrk-0123456789abcdef0123456789abcdef',
      }),
      /a secret's key is in its region and account/,
    ],
    [
      'prod.credentialSecretArn',
      broken('prod', { credentialSecretArn: 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:x-Ab12Cd' }),
      /is in account 999999999999, the stack in 333333333333/,
    ],
    ['prod.alarmEmails', broken('prod', { alarmEmails: ['a@example.com', 'A@example.com'] }), /twice/],
    [
      'prod.maxReceiveCount',
      broken('prod', { maxReceiveCount: 20, visibilityTimeoutSeconds: 43_200 }),
      /not under the request queue's 4-day retention/,
    ],
    [
      'dev.allowedSenders.roleArns[0]',
      broken('dev', { allowedSenders: { roleArns: ['siem'] } }),
      /must be an ARN like/,
    ],
    [
      'prod.visibilityTimeoutSeconds',
      broken('prod', { visibilityTimeoutSeconds: 300 }),
      /at least 6 × functionTimeoutSeconds \+ batchingWindowSeconds = 361/,
    ],
    [
      'prod.credentialSecretArn',
      broken('prod', {
        credentialSecretArn: `arn:aws:secretsmanager:eu-west-1:333333333333:secret:${'x'.repeat(3400)}-Ab12Cd`,
      }),
      /over Lambda's limit of 4096 .*; its largest variable from the settings is DFNS_CREDENTIALS_SECRET_ID \(3\d{3} characters\): shorten it$/,
    ],
    ['prod.protectedTokenIds[0]', broken('prod', { protectedTokenIds: ['TO-BREAK-GLASS'] }), /must match/],
    ['dev.logRetentionDays', broken('dev', { logRetentionDays: 42 }), /must be one of/],
    ['dev.account', broken('dev', { region: undefined }), /account and region together/],
    ['env', ENVIRONMENTS, /unknown environment "qa"/],
  ])('names %s when it is wrong', (setting, environments, rule) => {
    const e = error(environments as Record<EnvironmentName, EnvironmentInput>, setting === 'env' ? 'qa' : undefined);
    expect(e).toBeInstanceOf(SettingsError);
    expect(e.setting).toBe(setting);
    expect(e.message).toMatch(rule);
  });

  it('a bad setting fails synth of the app with that message', () => {
    expect(() => synthesize({ environments: broken('prod', { maxReceiveCount: 0 }) })).toThrow(
      /prod\.maxReceiveCount: /,
    );
  });

  it.each([
    [
      'one container cannot start a token in an invocation',
      broken('dev', { functionTimeoutSeconds: 15 }),
      /dev\.functionTimeoutSeconds: leaves one container/,
    ],
    [
      'the budgets on one organisation add up past its limit',
      broken('staging', { dfnsOrganisation: 'example-prod', dfnsRequestsPerMinute: 450 }),
      /staging\.dfnsRequestsPerMinute \+ prod\.dfnsRequestsPerMinute: 450 \+ 600 = 1050 requests per minute, more than Dfns organisation "example-prod" allows/,
    ],
    [
      "the function's environment exceeds 4 KB",
      broken('prod', { protectedTokenIds: tokenIds(120) }),
      /prod\.protectedTokenIds: holds 120 token IDs: the function's environment would be/,
    ],
  ])('settings that cannot fit fail synth of the app: %s', (_, environments, message) => {
    expect(() => synthesize({ environments })).toThrow(message);
  });

  it('checks the budgets of every environment on an organisation when synthesizing one (-c env=<name>)', () => {
    const e = error(broken('staging', { dfnsOrganisation: 'example-prod', dfnsRequestsPerMinute: 450 }), 'prod');
    expect(e.setting).toBe('staging.dfnsRequestsPerMinute + prod.dfnsRequestsPerMinute');
  });

  it('lets environments on one organisation use it up to its limit, and a container just one token per invocation', () => {
    const full = broken('staging', { dfnsOrganisation: 'example-prod', dfnsRequestsPerMinute: 400 });
    expect(selectEnvironments(undefined, full).map((s) => s.dfnsRequestsPerMinute)).toEqual([30, 400, 600]);
    // 36 ÷ 2 × (15 − 5) s ÷ 60 s = 3 requests: exactly one token
    const edge = resolveSettings('dev', { ...ENVIRONMENTS.dev, dfnsRequestsPerMinute: 36, functionTimeoutSeconds: 15 });
    expect(invocationShare(edge)).toBe(3);
    expect(() =>
      resolveSettings('dev', { ...ENVIRONMENTS.dev, dfnsRequestsPerMinute: 35, functionTimeoutSeconds: 15 }),
    ).toThrow(/= 2\.92 requests per invocation/);
  });

  it("protects as many token IDs as fit the function's 4 KB environment, and says how many", () => {
    const e = error(broken('prod', { protectedTokenIds: tokenIds(120) }));
    const fit = Number(/At most (\d+) fit/.exec(e.message)?.[1]);
    expect(fit).toBeGreaterThanOrEqual(80);
    const settings = resolveSettings('prod', { ...ENVIRONMENTS.prod, protectedTokenIds: tokenIds(fit) });
    expect(environmentBytes(deployedEnvironment(settings))).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_MAX_BYTES);
    expect(() => resolveSettings('prod', { ...ENVIRONMENTS.prod, protectedTokenIds: tokenIds(fit + 1) })).toThrow(
      new RegExp(`holds ${fit + 1} token IDs: .* At most ${fit} fit`),
    );
  });

  it('measures the environment as Lambda does (compact JSON, UTF-8), an environment-agnostic stack at its longest', () => {
    expect(LAMBDA_ENVIRONMENT_MAX_BYTES).toBe(4096);
    expect(environmentBytes({ A: 'b' })).toBe('{"A":"b"}'.length);
    expect(environmentBytes({ A: 'é' })).toBe(10);
    const agnostic = resolveSettings('dev', { ...ENVIRONMENTS.dev, account: undefined, region: undefined });
    expect(deployedEnvironment(agnostic).DEAD_LETTER_QUEUE_URL).toBe(
      `https://sqs.${'x'.repeat(14)}.amazonaws.com.cn/123456789012/pat-revoker-dev-requests-dlq`,
    );
  });

  it('gives each environment its Dfns organisation, and an invocation room for a full batch of two-token records', () => {
    const chosen = ENVIRONMENT_NAMES.map((name) => {
      const s = settingsOf(name);
      return [
        name,
        s.dfnsOrganisation,
        s.dfnsOrganisationRequestsPerMinute,
        s.dfnsRequestsPerMinute,
        s.eventSourceMaxConcurrency,
        s.batchSize,
        s.batchingWindowSeconds,
        s.functionTimeoutSeconds,
        s.visibilityTimeoutSeconds,
        Math.floor(invocationShare(s) / 3),
      ];
    });
    expect(chosen).toEqual([
      ['dev', 'example-trial', 100, 30, 2, 2, 1, 60, 361, 4],
      ['staging', 'example-staging', 1000, 150, 2, 5, 1, 60, 361, 22],
      ['prod', 'example-prod', 1000, 600, 3, 1, 1, 60, 361, 61],
    ]);
    for (const name of ENVIRONMENT_NAMES) {
      const s = settingsOf(name);
      expect(invocationShare(s) / 3).toBeGreaterThanOrEqual(2 * s.batchSize);
    }
    // A rehearsal does not spend prod's budget.
    expect(settingsOf('staging').dfnsOrganisation).not.toBe(settingsOf('prod').dfnsOrganisation);
  });

  it('-c env=<name> synthesizes that environment only', () => {
    const { app } = synthesize({ only: 'staging' });
    expect(app.node.children.map((c) => c.node.id).filter((id) => id.startsWith('PatRevoker-'))).toEqual([
      'PatRevoker-staging',
    ]);
  });

  it('wires non-default settings into the template (custom timeout, batching, memory, receives, secret key, env-agnostic)', () => {
    const custom: EnvironmentInput = {
      ...ENVIRONMENTS.dev,
      account: undefined,
      region: undefined,
      credentialSecretKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555',
      functionTimeoutSeconds: 120,
      memoryMb: 1024,
      batchSize: 5,
      batchingWindowSeconds: 3,
      maxReceiveCount: 7,
      eventSourceMaxConcurrency: 3,
      maxConcurrency: 16,
      protectedTokenIds: ['to-aaaaa-bbbbb-cccccccccccccccc', 'to-ddddd-eeeee-ffffffffffffffff'],
    };
    const { byName } = synthesize({ only: 'dev', environments: { ...ENVIRONMENTS, dev: custom } });
    const template = byName.get('dev')!.template;
    const [queueId, queue] = only(template, 'AWS::SQS::Queue', { QueueName: 'pat-revoker-dev-requests' });
    expect(queue.Properties.VisibilityTimeout).toBe(6 * 120 + 3);
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(7);
    const [, fn] = only(template, 'AWS::Lambda::Function');
    expect(fn.Properties).toMatchObject({ Timeout: 120, MemorySize: 1024 });
    expect(fn.Properties.Environment.Variables).toMatchObject({
      MAX_RECEIVE_COUNT: '7',
      MAX_CONCURRENCY: '16',
      PROTECTED_TOKEN_IDS: 'to-aaaaa-bbbbb-cccccccccccccccc,to-ddddd-eeeee-ffffffffffffffff',
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 5,
      MaximumBatchingWindowInSeconds: 3,
      ScalingConfig: { MaximumConcurrency: 3 },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DecryptDfnsCredential',
            Effect: 'Allow',
            Action: 'kms:Decrypt',
            Resource: custom.credentialSecretKmsKeyArn,
            Condition: {
              StringEquals: {
                'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
                'kms:EncryptionContext:SecretARN': custom.credentialSecretArn,
              },
            },
          },
        ]),
      },
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a: any) => a.Properties);
    expect(alarms.find((a) => a.MetricName === 'Duration').Threshold).toBe(120 * 1000 * 0.8);
    // env-agnostic: a CloudFormation rule refuses a deployment outside the secret's region
    expect(template.toJSON().Rules).toMatchObject({
      SecretInStackRegion: {
        Assertions: [
          {
            Assert: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] },
            AssertDescription: expect.stringMatching(/deploy this stack there/),
          },
        ],
      },
    });
  });

  it('applies the defaults of the issue', () => {
    const minimal = resolveSettings('dev', {
      dfnsApiUrl: 'https://api.dfns.io',
      credentialSecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:x-Ab12Cd',
      allowedSenders: {},
      operatorRoleArns: ['arn:aws:iam::111111111111:role/operator'],
      breakGlassRoleArn: 'arn:aws:iam::111111111111:role/break-glass',
      alarmEmails: ['a@example.com'],
      dfnsOrganisation: 'acme',
      dfnsOrganisationRequestsPerMinute: 1000,
      dfnsRequestsPerMinute: 60,
    });
    expect(minimal.protectedTokenIds).toEqual([]);
    expect(minimal.allowedSenders).toEqual({ roleArns: [], snsTopicArns: [], eventBridgeRuleArns: [] });
    expect(minimal).toMatchObject({
      maxReceiveCount: 5,
      batchSize: 10,
      batchingWindowSeconds: 1,
      eventSourceMaxConcurrency: 5,
      functionTimeoutSeconds: 60,
      memoryMb: 512,
      maxConcurrency: 8,
      dryRun: false,
      removalPolicy: 'retain',
      revocationSloSeconds: 300,
      queueEncryption: 'sqs-managed',
      visibilityTimeoutSeconds: 361,
    });
  });
});

describe('cfn-lint', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pat-revoker-cfn-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes on every synthesized template (ignoring only W3005)', () => {
    const files = ENVIRONMENT_NAMES.map((name) => {
      const file = join(dir, `${name}.template.json`);
      writeFileSync(file, JSON.stringify(get(name).template.toJSON()));
      return file;
    });
    const result = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', ...files], { encoding: 'utf8' });
    if (result.error)
      throw new Error(`cfn-lint could not run (${result.error.message}); it is expected on every machine of this kind`);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
