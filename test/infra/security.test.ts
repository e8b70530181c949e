/**
 * The security model of every environment's stack, read off the synthesized templates (bundling skipped): no way
 * around the sender allow-list, nobody but the named principals consumes, purges or reconfigures the queues or reads
 * the credential, the principals named are the ones the stack, CloudFormation and the CLI really use, and tampering
 * pages someone (CloudTrail events fed to the rule's own pattern).
 */
import { readFileSync } from 'node:fs';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DEAD_LETTER_RETENTION_DAYS,
  MAX_MESSAGE_SIZE_BYTES,
  REQUEST_RETENTION_DAYS,
} from '../../infra/constructs/revocation-queue.js';
import {
  ENVIRONMENT_NAMES,
  ENVIRONMENTS,
  resolveSettings,
  type EnvironmentName,
  type EnvironmentSettings,
} from '../../infra/environments.js';
import { runCli } from '../../tools/cli/cli.js';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { synthesize, type Synthesized } from '../support/cdk.js';
import { matchesPattern, resolveIntrinsics, type PhysicalIds } from '../support/event-pattern.js';
import { allowedBy, deniedBy, type Caller, type PolicyStatementJson } from '../support/iam-policy.js';

let synthesized: Map<string, Synthesized>;
beforeAll(() => {
  synthesized = synthesize().byName;
});

/** CDK's default bootstrap qualifier (`cdk bootstrap` without --qualifier). */
const DEFAULT_QUALIFIER = 'hnb659fds';
const CONSUME = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:PurgeQueue'];
const ADMINISTER = ['sqs:SetQueueAttributes', 'sqs:AddPermission', 'sqs:RemovePermission', 'sqs:DeleteQueue'];

interface Resources {
  template: Template;
  settings: EnvironmentSettings;
  queueId: string;
  dlqId: string;
  roleId: string;
  /** Statements of the queue policy of a queue, by its logical ID. */
  queuePolicy(queueId: string): PolicyStatementJson[];
  /** The value naming the deployment role in the policies (the cloud assembly's role, resolved at deploy). */
  deployer: unknown;
}

function resourcesOf(name: EnvironmentName): Resources {
  const { template, deploymentRoleArn } = synthesized.get(name) as Synthesized;
  const idOf = (type: string, props: Record<string, unknown> = {}) => {
    const ids = Object.keys(template.findResources(type, { Properties: props }));
    expect(ids).toHaveLength(1);
    return ids[0] as string;
  };
  const queuePolicies = Object.values(template.findResources('AWS::SQS::QueuePolicy')) as Array<{
    Properties: { Queues: Array<{ Ref: string }>; PolicyDocument: { Statement: PolicyStatementJson[] } };
  }>;
  return {
    template,
    settings: resolveSettings(name, ENVIRONMENTS[name]),
    queueId: idOf('AWS::SQS::Queue', { QueueName: `pat-revoker-${name}-requests` }),
    dlqId: idOf('AWS::SQS::Queue', { QueueName: `pat-revoker-${name}-requests-dlq` }),
    roleId: idOf('AWS::IAM::Role'),
    queuePolicy: (queueId) => {
      const found = queuePolicies.filter((p) => p.Properties.Queues.some((q) => q.Ref === queueId));
      expect(found).toHaveLength(1);
      return (found[0] as (typeof queuePolicies)[number]).Properties.PolicyDocument.Statement;
    },
    deployer: { 'Fn::Sub': deploymentRoleArn },
  };
}

describe.each(ENVIRONMENT_NAMES)('%s', (name) => {
  let r: Resources;
  let principals: Record<string, Caller>;
  beforeAll(() => {
    r = resourcesOf(name);
    const { settings } = r;
    principals = {
      function: { principalArn: { 'Fn::GetAtt': [r.roleId, 'Arn'] } },
      deployment: { principalArn: r.deployer },
      'break-glass': { principalArn: settings.breakGlassRoleArn },
      ...Object.fromEntries(settings.operatorRoleArns.map((arn, i) => [`operator ${i + 1}`, { principalArn: arn }])),
      ...Object.fromEntries(
        (settings.allowedSenders.roleArns ?? []).map((arn, i) => [`sender ${i + 1}`, { principalArn: arn }]),
      ),
      'an account admin': { principalArn: `arn:aws:iam::${settings.account}:role/Admin` },
    };
  });
  const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
  /** Asserts that exactly `allowed` (names in `principals`) escape every deny of `actions` on the queue. */
  const expectOnly = (queueId: string, actions: string[], allowed: string[]) => {
    const verdicts = Object.entries(principals).flatMap(([who, caller]) =>
      actions.map((action) => [
        who,
        action,
        deniedBy(r.queuePolicy(queueId), caller, action, arnOf(queueId)).length > 0,
      ]),
    );
    const expected = Object.keys(principals).flatMap((who) =>
      actions.map((action) => [who, action, !allowed.includes(who)]),
    );
    expect(verdicts).toEqual(expected);
  };
  const operators = () => r.settings.operatorRoleArns.map((_, i) => `operator ${i + 1}`);

  describe('the request queue', () => {
    it("accepts no other queue's failures: its redrive-allow policy denies every source queue", () => {
      const [, queue] = Object.entries(r.template.findResources('AWS::SQS::Queue')).find(([id]) => id === r.queueId)!;
      expect(queue.Properties.RedriveAllowPolicy).toEqual({ redrivePermission: 'denyAll' });
    });

    it('is consumed and purged only by the function and break-glass', () => {
      expectOnly(r.queueId, CONSUME, ['function', 'break-glass']);
    });

    it('is reconfigured or deleted only by the deployment and break-glass', () => {
      expectOnly(r.queueId, ADMINISTER, ['deployment', 'break-glass']);
    });

    it('takes sends from its senders, the operators (a redrive sends as the operator) and the function (its continuations) only', () => {
      const senders = (r.settings.allowedSenders.roleArns ?? []).map((_, i) => `sender ${i + 1}`);
      expectOnly(r.queueId, ['sqs:SendMessage'], [...senders, ...operators(), 'function']);
    });
  });

  describe('the dead-letter queue', () => {
    it('is consumed, purged and redriven only by the function, the operators and break-glass', () => {
      expectOnly(r.dlqId, [...CONSUME, 'sqs:StartMessageMoveTask'], ['function', ...operators(), 'break-glass']);
    });

    it('is reconfigured or deleted only by the deployment and break-glass', () => {
      expectOnly(r.dlqId, ADMINISTER, ['deployment', 'break-glass']);
    });

    it("has an operator's redrive cancelled only by the operators and break-glass", () => {
      expectOnly(r.dlqId, ['sqs:CancelMessageMoveTask'], [...operators(), 'break-glass']);
    });

    it('is written only by the function, and by SQS itself (no principal) moving exhausted records', () => {
      expectOnly(r.dlqId, ['sqs:SendMessage'], ['function']);
      expect(deniedBy(r.queuePolicy(r.dlqId), {}, 'sqs:SendMessage', arnOf(r.dlqId))).toEqual([]);
    });
  });

  it('name break-glass as a principal on both queues, so a deploy with a role that does not exist fails', () => {
    for (const id of [r.queueId, r.dlqId]) {
      expect(r.queuePolicy(id).filter((s) => s.Effect === 'Allow' && s.Sid === 'AllowBreakGlassToInspect')).toEqual([
        {
          Sid: 'AllowBreakGlassToInspect',
          Effect: 'Allow',
          Action: 'sqs:GetQueueAttributes',
          Principal: { AWS: r.settings.breakGlassRoleArn },
          Resource: arnOf(id),
        },
      ]);
    }
  });

  describe('the queue key (queueEncryption kms)', () => {
    const sqsArn = (queueName: string) => `arn:aws:sqs:${r.settings.region}:${r.settings.account}:${queueName}`;
    const through = (service: string | undefined, queueArn: unknown): Partial<Caller> => ({
      ...(service ? { viaService: `${service}.${r.settings.region}.amazonaws.com` } : {}),
      encryptionContext: { 'aws:sqs:arn': queueArn },
    });

    it('is used by senders and operators only through SQS, and each for its own queues', () => {
      const keys = Object.values(r.template.findResources('AWS::KMS::Key')) as Array<{
        Properties: { KeyPolicy: { Statement: PolicyStatementJson[] } };
      }>;
      if (r.settings.queueEncryption !== 'kms') return expect(keys).toEqual([]);
      const statements = (keys[0] as (typeof keys)[number]).Properties.KeyPolicy.Statement;
      const requests = sqsArn(`pat-revoker-${name}-requests`);
      const deadLetters = sqsArn(`pat-revoker-${name}-requests-dlq`);
      const may = (arn: string, via: string | undefined, queueArn: string) =>
        allowedBy(statements, { principalArn: arn, ...through(via, queueArn) }, 'kms:GenerateDataKey', '*').length > 0;
      for (const arn of r.settings.operatorRoleArns) {
        expect([arn, may(arn, 'sqs', requests), may(arn, 'sqs', deadLetters)]).toEqual([arn, true, true]);
        expect([arn, may(arn, undefined, requests), may(arn, 'sns', deadLetters)]).toEqual([arn, false, false]);
      }
      for (const arn of r.settings.allowedSenders.roleArns ?? []) {
        expect([arn, may(arn, 'sqs', requests), may(arn, 'sqs', deadLetters), may(arn, undefined, requests)]).toEqual([
          arn,
          true,
          false,
          false,
        ]);
      }
    });

    it("is used by the function's role to read requests and write dead letters and continuations, through SQS only", () => {
      const policy = Object.values(r.template.findResources('AWS::IAM::Policy'))[0] as {
        Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } };
      };
      const statements = policy.Properties.PolicyDocument.Statement;
      const [keyId] = Object.keys(r.template.findResources('AWS::KMS::Key'));
      if (!keyId)
        return expect(statements.filter((st) => [st.Action].flat().some((a) => a.startsWith('kms:')))).toEqual([]);
      const key = arnOf(keyId);
      const may = (action: string, via: string | undefined, queueId: string) =>
        allowedBy(statements, through(via, arnOf(queueId)), action, key).length > 0;
      expect({
        'decrypt requests': may('kms:Decrypt', 'sqs', r.queueId),
        'encrypt dead letters': may('kms:GenerateDataKey', 'sqs', r.dlqId),
        'encrypt continuations': may('kms:GenerateDataKey', 'sqs', r.queueId),
        'encrypt continuations directly': may('kms:GenerateDataKey', undefined, r.queueId),
        'decrypt requests directly': may('kms:Decrypt', undefined, r.queueId),
        'decrypt requests through another service': may('kms:Decrypt', 'sns', r.queueId),
      }).toEqual({
        'decrypt requests': true,
        'encrypt dead letters': true,
        'encrypt continuations': true,
        'encrypt continuations directly': false,
        'decrypt requests directly': false,
        'decrypt requests through another service': false,
      });
    });
  });

  describe('queue sizes and retention', () => {
    it('take messages up to 256 KiB on both queues, so every dead letter can be redriven', () => {
      for (const id of [r.queueId, r.dlqId]) {
        expect(r.template.toJSON().Resources[id].Properties.MaximumMessageSize).toBe(MAX_MESSAGE_SIZE_BYTES);
      }
      expect(MAX_MESSAGE_SIZE_BYTES).toBe(256 * 1024);
    });

    it('keep requests 4 days and dead letters 14, longer, since a dead letter keeps its first enqueue time', () => {
      const resources = r.template.toJSON().Resources;
      expect(resources[r.queueId].Properties.MessageRetentionPeriod).toBe(REQUEST_RETENTION_DAYS * 86_400);
      expect(resources[r.dlqId].Properties.MessageRetentionPeriod).toBe(DEAD_LETTER_RETENTION_DAYS * 86_400);
      expect(DEAD_LETTER_RETENTION_DAYS).toBeGreaterThan(REQUEST_RETENTION_DAYS);
    });
  });

  describe('the principals named are the ones really used', () => {
    it('the deployment role is the execution role of the cloud assembly, from the bootstrap qualifier', () => {
      const { deploymentRoleArn } = synthesized.get(name) as Synthesized;
      const qualifier = r.settings.bootstrapQualifier ?? DEFAULT_QUALIFIER;
      expect(deploymentRoleArn).toBe(
        `arn:\${AWS::Partition}:iam::${r.settings.account}:role/cdk-${qualifier}-cfn-exec-role-${r.settings.account}-${r.settings.region}`,
      );
      for (const id of [r.queueId, r.dlqId]) {
        const administer = r.queuePolicy(id).find((s) => s.Sid === 'DenyOtherAdministrators');
        expect(administer?.Condition?.ArnNotEquals?.['aws:PrincipalArn']).toEqual([
          r.deployer,
          r.settings.breakGlassRoleArn,
        ]);
      }
    });

    it("the function role's own grants on the queues are not denied by their policies", () => {
      const policy = Object.values(r.template.findResources('AWS::IAM::Policy'))[0] as {
        Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } };
      };
      const granted = policy.Properties.PolicyDocument.Statement.filter((s) =>
        [r.queueId, r.dlqId].some((id) => JSON.stringify(s.Resource) === JSON.stringify(arnOf(id))),
      ).flatMap((s) => [s.Action].flat().map((action) => [action, s.Resource] as const));
      // the event source mapping consumes the request queue, the function writes dead letters and continuations
      expect(granted.map(([action]) => action).sort()).toEqual(
        [
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:ReceiveMessage',
          'sqs:SendMessage',
          'sqs:SendMessage',
        ].sort(),
      );
      for (const [action, resource] of granted) {
        const queueId = (resource as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
        expect([action, deniedBy(r.queuePolicy(queueId), principals.function as Caller, action, resource)]).toEqual([
          action,
          [],
        ]);
      }
    });

    describe('every operator can run every CLI command, and the move task a redrive starts', () => {
      const sqs = mockClient(SQSClient);
      const cloudwatch = mockClient(CloudWatchClient);
      const sts = mockClient(STSClient);
      afterAll(() => {
        sqs.restore();
        cloudwatch.restore();
        sts.restore();
      });

      it.each([['enqueue', 'to-aaaaa-bbbbb-cccccccccccccccc'], ['redrive', '--rate', '10'], ['status']])(
        '%s',
        async (command, ...args) => {
          const urlOf = (queueName: string) =>
            `https://sqs.${r.settings.region}.amazonaws.com/${r.settings.account}/${queueName}`;
          const queueByArn = new Map<string, string>();
          const queueByUrl = new Map<string, string>();
          const queueByName = new Map<string, string>();
          for (const [id, queueName] of [
            [r.queueId, `pat-revoker-${name}-requests`],
            [r.dlqId, `pat-revoker-${name}-requests-dlq`],
          ] as const) {
            queueByUrl.set(urlOf(queueName), id);
            queueByName.set(queueName, id);
            queueByArn.set(`arn:aws:sqs:${r.settings.region}:${r.settings.account}:${queueName}`, id);
          }
          const arnOfId = (id: string) => [...queueByArn].find(([, queueId]) => queueId === id)?.[0];
          sqs.reset();
          cloudwatch.reset();
          sts.reset();
          sts
            .on(GetCallerIdentityCommand)
            .resolves({ Account: r.settings.account, Arn: 'arn:aws:sts::1:assumed-role/x/y' });
          sqs.on(GetQueueAttributesCommand).callsFake(({ QueueUrl }: { QueueUrl: string }) => ({
            Attributes: {
              QueueArn: arnOfId(queueByUrl.get(QueueUrl) as string),
              RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arnOfId(r.dlqId), maxReceiveCount: 5 }),
              ApproximateNumberOfMessages: '1',
              ApproximateNumberOfMessagesNotVisible: '0',
            },
          }));
          sqs.on(GetQueueUrlCommand).callsFake(({ QueueName }: { QueueName: string }) => ({
            QueueUrl: [...queueByUrl].find(([, id]) => id === queueByName.get(QueueName))?.[0],
          }));
          sqs.on(ReceiveMessageCommand).resolves({ Messages: [{ MessageId: 'm', ReceiptHandle: 'h', Body: '{}' }] });
          sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [{ Id: '0' }], Failed: [] });
          sqs.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '0', MessageId: 'm', MD5OfMessageBody: '' }] });
          sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h' });
          sqs
            .on(ListMessageMoveTasksCommand)
            .resolvesOnce({ Results: [] })
            .resolves({ Results: [{ Status: 'COMPLETED', StartedTimestamp: Date.now() + 60_000 }] });
          cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
          const code = await runCli([command, ...args, '--env', name, ...(command === 'status' ? [] : ['--yes'])], {
            stdout: () => {},
            stderr: () => {},
            readStdin: () => '',
            ask: async () => 'no',
            canAsk: false,
            env: {},
            stdoutColours: false,
            interrupt: new AbortController().signal,
          });
          expect(code).toBe(0);

          // What the CLI called, as IAM actions on the queues (a batch call needs the action's permission).
          const calls = sqs.calls().map((call) => {
            const input = call.args[0].input as { QueueUrl?: string; SourceArn?: string; QueueName?: string };
            const action = `sqs:${call.args[0].constructor.name.replace(/Command$/, '').replace(/Batch$/, '')}`;
            const queueId = input.QueueUrl
              ? queueByUrl.get(input.QueueUrl)
              : input.QueueName
                ? queueByName.get(input.QueueName)
                : queueByArn.get(input.SourceArn ?? '');
            if (!queueId) throw new Error(`the CLI named a queue the stack does not have: ${JSON.stringify(input)}`);
            return [action, queueId] as const;
          });
          expect(calls.length).toBeGreaterThan(0);
          // A move task receives and deletes on the DLQ and sends to the destination, all as its caller.
          if (command === 'redrive') {
            calls.push(['sqs:ReceiveMessage', r.dlqId], ['sqs:DeleteMessage', r.dlqId], ['sqs:SendMessage', r.queueId]);
          }
          for (const arn of r.settings.operatorRoleArns) {
            const denied = calls.flatMap(([action, queueId]) =>
              deniedBy(r.queuePolicy(queueId), { principalArn: arn }, action, arnOf(queueId)).map(
                (sid) => `${action} on ${queueId}: ${sid}`,
              ),
            );
            expect([arn, denied]).toEqual([arn, []]);
          }
        },
      );
    });
  });

  describe('the credential secret', () => {
    let policy: { SecretId: string; BlockPublicPolicy: boolean; ResourcePolicy: { Statement: PolicyStatementJson[] } };
    beforeAll(() => {
      const found = Object.values(r.template.findResources('AWS::SecretsManager::ResourcePolicy'));
      expect(found).toHaveLength(1);
      policy = (found[0] as { Properties: typeof policy }).Properties;
    });
    const denied = (who: string, action: string) =>
      deniedBy(policy.ResourcePolicy.Statement, principals[who] as Caller, action, '*').length > 0;

    it('gets a resource policy, attached to the existing secret by its ARN, that blocks public policies', () => {
      expect(policy.SecretId).toBe(r.settings.credentialSecretArn);
      expect(policy.BlockPublicPolicy).toBe(true);
    });

    it('is read only by the function, break-glass and the rotation role if one is configured', () => {
      const readers = Object.keys(principals).filter((who) => !denied(who, 'secretsmanager:GetSecretValue'));
      expect(readers).toEqual(['function', 'break-glass']);
      const rotation = r.settings.credentialRotationRoleArn;
      if (rotation) {
        expect(
          deniedBy(policy.ResourcePolicy.Statement, { principalArn: rotation }, 'secretsmanager:GetSecretValue', '*'),
        ).toEqual([]);
      }
    });

    it('has its value changed, rotated, re-keyed or deleted only by break-glass and the rotation role', () => {
      const changes = [
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecret',
        'secretsmanager:UpdateSecretVersionStage',
        'secretsmanager:DeleteSecret',
        'secretsmanager:RotateSecret',
        'secretsmanager:CancelRotateSecret',
      ];
      for (const action of changes) {
        expect([action, Object.keys(principals).filter((who) => !denied(who, action))]).toEqual([
          action,
          ['break-glass'],
        ]);
        const rotation = r.settings.credentialRotationRoleArn;
        if (rotation) {
          expect(deniedBy(policy.ResourcePolicy.Statement, { principalArn: rotation }, action, '*')).toEqual([]);
        }
      }
    });

    it('has its policy changed or removed only by the deployment and break-glass', () => {
      for (const action of ['secretsmanager:PutResourcePolicy', 'secretsmanager:DeleteResourcePolicy']) {
        expect(Object.keys(principals).filter((who) => !denied(who, action))).toEqual(['deployment', 'break-glass']);
      }
    });
  });

  describe('the tamper alarm', () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../fixtures/cloudtrail/tampering.json', import.meta.url), 'utf8'),
    ) as { events: Array<{ case: string; page: boolean | 'unless-rotation-role' | 'if-queue-key'; event: unknown }> };
    type RuleProperties = { EventPattern: unknown; Targets: Array<{ Arn: unknown; InputTransformer?: unknown }> };
    let rules: Array<[string, RuleProperties]>;
    let resolve: (value: unknown) => unknown;
    let fill: (event: unknown) => unknown;
    let verdictOf: (page: (typeof fixture.events)[number]['page']) => boolean;
    beforeAll(() => {
      rules = Object.entries(r.template.findResources('AWS::Events::Rule')).map(([id, resource]) => [
        id,
        resource.Properties as RuleProperties,
      ]);
      expect(rules.length).toBeGreaterThan(0);
      const { settings } = r;
      const account = settings.account as string;
      const region = settings.region as string;
      const [functionId] = Object.keys(r.template.findResources('AWS::Lambda::Function'));
      const [mappingId] = Object.keys(r.template.findResources('AWS::Lambda::EventSourceMapping'));
      const [topicId] = Object.keys(r.template.findResources('AWS::SNS::Topic'));
      const [keyId] = Object.keys(r.template.findResources('AWS::KMS::Key'));
      const keyArn = `arn:aws:kms:${region}:${account}:key/3c0d8b9e-1f2a-4b5c-8d7e-9f0a1b2c3d4e`;
      const functionName = `PatRevoker-${name}-RevokerFunction-AbCdEf012345`;
      const queue = (queueName: string) => ({
        ref: `https://sqs.${region}.amazonaws.com/${account}/${queueName}`,
        attributes: { QueueName: queueName, Arn: `arn:aws:sqs:${region}:${account}:${queueName}` },
      });
      const ids: PhysicalIds = {
        [r.queueId]: queue(`pat-revoker-${name}-requests`),
        [r.dlqId]: queue(`pat-revoker-${name}-requests-dlq`),
        [functionId as string]: {
          ref: functionName,
          attributes: { Arn: `arn:aws:lambda:${region}:${account}:function:${functionName}` },
        },
        [mappingId as string]: { ref: '0f8b2c1e-6d4a-4e1b-9a3c-7b5d2e4f6a81' },
        [topicId as string]: { ref: `arn:aws:sns:${region}:${account}:PatRevoker-${name}-AlarmsTopic-AbCdEf012345` },
        [r.roleId]: {
          ref: 'role',
          attributes: { Arn: `arn:aws:iam::${account}:role/PatRevoker-${name}-RevokerRole-AbCdEf` },
        },
        ...(keyId ? { [keyId]: { ref: keyArn.split('/')[1] as string, attributes: { Arn: keyArn } } } : {}),
      };
      resolve = (value) => resolveIntrinsics(value, ids, { partition: 'aws', region, account });
      const deploymentRoleArn = resolve(r.deployer) as string;
      const rotationRoleArn =
        settings.credentialRotationRoleArn ?? `arn:aws:iam::${account}:role/dfns-credential-rotation`;
      verdictOf = (page) =>
        page === 'unless-rotation-role'
          ? settings.credentialRotationRoleArn === undefined
          : page === 'if-queue-key'
            ? keyId !== undefined
            : page;
      const secretArn = settings.credentialSecretArn;
      const partialSecretArn = secretArn.replace(/-[A-Za-z0-9]{6}$/, '');
      const values: Record<string, string> = {
        account,
        region,
        requestQueueName: `pat-revoker-${name}-requests`,
        deadLetterQueueName: `pat-revoker-${name}-requests-dlq`,
        requestQueueUrl: ids[r.queueId]?.ref as string,
        deadLetterQueueUrl: ids[r.dlqId]?.ref as string,
        secretArn,
        partialSecretArn,
        secretName: partialSecretArn.split(':secret:')[1] as string,
        functionName,
        functionArn: ids[functionId as string]?.attributes?.Arn as string,
        mappingUuid: ids[mappingId as string]?.ref as string,
        deploymentRoleArn,
        deploymentRoleName: deploymentRoleArn.split('/').pop() as string,
        functionRoleArn: ids[r.roleId]?.attributes?.Arn as string,
        topicArn: ids[topicId as string]?.ref as string,
        // where there is no such key or role, events naming one must not page
        queueKeyArn: keyArn,
        rotationRoleArn: rotationRoleArn,
        rotationRoleName: rotationRoleArn.split('/').pop() as string,
      };
      fill = (event) =>
        JSON.parse(
          JSON.stringify(event).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
            const value = values[key];
            if (value === undefined) throw new Error(`no value for {{${key}}}`);
            return value;
          }),
        );
    });

    it.each(fixture.events)('$case (page: $page)', ({ page, event }) => {
      const filled = fill(event);
      const pages = rules.some(([, rule]) => matchesPattern(resolve(rule.EventPattern) as never, filled as never));
      expect(pages).toBe(verdictOf(page));
    });

    it('fits EventBridge: each pattern at most 4096 characters (with room for long names), under 1000 $or combinations', () => {
      for (const [, rule] of rules) {
        // the names used here are short; a real function name may be 64 characters, in up to 9 places
        expect(JSON.stringify(resolve(rule.EventPattern)).length + 9 * 64).toBeLessThanOrEqual(4096);
        expect(combinations(rule.EventPattern)).toBeLessThan(1000);
      }
    });

    it('pages through a topic that only the deployment and break-glass may reconfigure, unshare or delete', () => {
      const [topicId] = Object.keys(r.template.findResources('AWS::SNS::Topic'));
      const [topicPolicy] = Object.values(r.template.findResources('AWS::SNS::TopicPolicy')) as Array<{
        Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } };
      }>;
      const statements = topicPolicy?.Properties.PolicyDocument.Statement ?? [];
      for (const action of ['sns:SetTopicAttributes', 'sns:DeleteTopic', 'sns:AddPermission', 'sns:RemovePermission']) {
        const allowed = Object.keys(principals).filter(
          (who) => deniedBy(statements, principals[who] as Caller, action, { Ref: topicId }).length === 0,
        );
        expect([action, allowed]).toEqual([action, ['deployment', 'break-glass']]);
      }
    });

    it('pages through the alarm topic, which lets EventBridge publish for these rules only', () => {
      const [topicId] = Object.keys(r.template.findResources('AWS::SNS::Topic'));
      for (const [, rule] of rules) {
        expect(rule.Targets).toHaveLength(1);
        expect(rule.Targets[0]?.Arn).toEqual({ Ref: topicId });
        expect(JSON.stringify(rule.Targets[0]?.InputTransformer)).toContain('outside a deploy');
      }
      const [topicPolicy] = Object.values(r.template.findResources('AWS::SNS::TopicPolicy')) as Array<{
        Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } };
      }>;
      const fromEvents = topicPolicy?.Properties.PolicyDocument.Statement.filter(
        (s) => s.Principal !== '*' && s.Principal?.Service === 'events.amazonaws.com',
      );
      expect(fromEvents).toEqual([
        {
          Sid: 'AllowTamperAlarmRules',
          Effect: 'Allow',
          Action: 'sns:Publish',
          Principal: { Service: 'events.amazonaws.com' },
          Resource: { Ref: topicId },
          Condition: { ArnEquals: { 'aws:SourceArn': rules.map(([id]) => ({ 'Fn::GetAtt': [id, 'Arn'] })) } },
        },
      ]);
    });
  });
});

/** How many alternatives an EventBridge pattern expands to (its $or branches multiplied out). */
function combinations(node: unknown): number {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return 1;
  return Object.entries(node).reduce(
    (product, [key, sub]) =>
      product *
      (key === '$or' ? (sub as unknown[]).reduce<number>((sum, alt) => sum + combinations(alt), 0) : combinations(sub)),
    1,
  );
}

describe('a custom bootstrap qualifier', () => {
  it('names the execution role of that bootstrap, as the cloud assembly does', () => {
    const { byName } = synthesize({
      only: 'staging',
      environments: { ...ENVIRONMENTS, staging: { ...ENVIRONMENTS.staging, bootstrapQualifier: 'secops1' } },
    });
    const { template, deploymentRoleArn } = byName.get('staging') as Synthesized;
    expect(deploymentRoleArn).toBe(
      `arn:\${AWS::Partition}:iam::222222222222:role/cdk-secops1-cfn-exec-role-222222222222-eu-west-1`,
    );
    const named = JSON.stringify(template.toJSON()).match(/cdk-\w+-cfn-exec-role/g) ?? [];
    expect(named.length).toBeGreaterThan(0);
    expect(new Set(named)).toEqual(new Set(['cdk-secops1-cfn-exec-role']));
  });
});
