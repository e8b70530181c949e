/**
 * Pages when someone changes what the revocation path depends on: purges, reconfigures or deletes the queues,
 * changes the credential secret's resource policy, or changes the function or its event source mapping. Built on
 * CloudTrail management events through EventBridge, so it needs the account's CloudTrail trail; calls made by the
 * deployment's CloudFormation role are left out, or every deploy would page.
 *
 * SQS metrics are not used to infer a purge or deletion: they are approximate and lag by minutes.
 */
import { Stack } from 'aws-cdk-lib';
import { EventField, Rule, RuleTargetInput, type EventPattern } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import type { IEventSourceMapping, IFunction } from 'aws-cdk-lib/aws-lambda';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { denyAllBut } from './deny-all-but.js';

/** SQS calls that stop or redirect revocations. */
export const SQS_TAMPERING = ['PurgeQueue', 'SetQueueAttributes', 'DeleteQueue', 'AddPermission', 'RemovePermission'];

/** Secrets Manager calls that change who may read the credential. */
export const SECRET_TAMPERING = ['PutResourcePolicy', 'DeleteResourcePolicy'];

/**
 * Secrets Manager calls that change, stop or delete the credential itself: a page unless the rotation role made
 * them (it rotates by putting a value and moving the version stages).
 */
export const CREDENTIAL_TAMPERING = [
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'DeleteSecret',
  'RotateSecret',
  'CancelRotateSecret',
];

/** KMS calls that make the queue key unusable or change who may use it: every send and receive would fail. */
export const KEY_TAMPERING = [
  'DisableKey',
  'ScheduleKeyDeletion',
  'PutKeyPolicy',
  'DisableKeyRotation',
  'CreateGrant',
  'RevokeGrant',
];

/** SNS calls that silence the pages themselves. */
export const TOPIC_TAMPERING = ['SetTopicAttributes', 'DeleteTopic', 'AddPermission', 'RemovePermission'];

/**
 * Lambda calls that change the function (prefixes: CloudTrail names carry API versions, such as
 * `UpdateFunctionCode20150331v2`). `DeleteFunction` also covers `DeleteFunctionConcurrency`, `DeleteFunctionUrlConfig`
 * and `DeleteFunctionEventInvokeConfig`.
 */
export const FUNCTION_TAMPERING = [
  'UpdateFunctionCode',
  'UpdateFunctionConfiguration',
  'PutFunctionConcurrency',
  'DeleteFunction',
  'PutFunctionRecursionConfig',
  'AddPermission',
  'RemovePermission',
  'PutFunctionEventInvokeConfig',
  'UpdateFunctionEventInvokeConfig',
  'CreateEventSourceMapping',
];

/** Lambda calls that change an event source mapping (prefixes, as above). */
export const MAPPING_TAMPERING = ['UpdateEventSourceMapping', 'DeleteEventSourceMapping'];

/** Lambda calls that give the function's role to another function (prefixes): it would hold the role's rights. */
export const ROLE_REUSE = ['CreateFunction', 'UpdateFunctionConfiguration'];

/** Props of {@link TamperAlarm}. */
export interface TamperAlarmProps {
  queues: IQueue[];
  /** Complete ARN of the credential secret (name and partial ARN are derived: callers may use either). */
  secretArn: string;
  /** The secret's rotation role: its value changes do not page. @default none */
  credentialRotationRoleArn?: string;
  function: IFunction;
  /** The function's role: a page when another function is given it. */
  functionRoleArn: string;
  eventSourceMapping: IEventSourceMapping;
  /** The queues' customer-managed key, if any. @default none */
  queueKeyArn?: string;
  /** Calls by this role (the deployment's CloudFormation execution role) do not page. */
  deploymentRoleArn: string;
  /** With the deployment role, the only principal that may reconfigure or delete the alarm topic. */
  breakGlassRoleArn: string;
  /** Where the page goes (the alarm topic, which must take a resource policy statement). */
  topic: ITopic;
  /** Named in the message. */
  environmentName: string;
}

/** The EventBridge rules (two: a pattern holds at most 4096 characters) and their page. */
export class TamperAlarm extends Construct {
  readonly rules: Rule[];

  constructor(scope: Construct, id: string, props: TamperAlarmProps) {
    super(scope, id);
    const { resources, lambda } = tamperPatterns(Stack.of(this), props);
    this.rules = [
      new Rule(this, 'Rule', {
        description: `pat-revoker ${props.environmentName}: the queues, their key, the credential or the alarm topic was changed outside a deploy`,
        eventPattern: resources,
      }),
      new Rule(this, 'FunctionRule', {
        description: `pat-revoker ${props.environmentName}: the function, its event source mapping or its role was changed outside a deploy`,
        eventPattern: lambda,
      }),
    ];
    const field = (path: string) => EventField.fromPath(path);
    // The targets name the topic by ARN so that the grant below is the only one: EventBridge may publish for these
    // rules only (SnsTopic's own grant would let any rule of any account publish).
    props.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowTamperAlarmRules',
        actions: ['sns:Publish'],
        principals: [new ServicePrincipal('events.amazonaws.com')],
        resources: [props.topic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.rules.map((rule) => rule.ruleArn) } },
      }),
    );
    // Silencing the pager comes first in an attack: only the deployment and break-glass may change the topic.
    props.topic.addToResourcePolicy(
      denyAllBut(
        'DenyOtherTopicChanges',
        TOPIC_TAMPERING.map((call) => `sns:${call}`),
        props.topic.topicArn,
        [props.deploymentRoleArn, props.breakGlassRoleArn],
      ),
    );
    const topic = Topic.fromTopicArn(this, 'Topic', props.topic.topicArn);
    for (const rule of this.rules) {
      rule.addTarget(
        new SnsTopic(topic, {
          message: RuleTargetInput.fromText(
            `pat-revoker ${props.environmentName}: ${field('$.detail.eventName')} (${field('$.detail.eventSource')}) ` +
              `by ${field('$.detail.userIdentity.arn')} from ${field('$.detail.sourceIPAddress')} at ` +
              `${field('$.detail.eventTime')}, outside a deploy. If nobody planned this change, treat it as an attack ` +
              'on the revocation path: check the queues, the function and the credential (README, Security model).',
          ),
        }),
      );
    }
  }
}

/** The event patterns: any of the calls above on these resources, by anyone but the deployment role. */
function tamperPatterns(stack: Stack, props: TamperAlarmProps): { resources: EventPattern; lambda: EventPattern } {
  const prefixes = (names: string[]) => names.map((prefix) => ({ prefix }));
  // Callers name a queue by URL, in either of SQS' host forms: match the end, `/<account>/<name>`.
  const queueUrls = props.queues.map((q) => ({ suffix: `/${stack.account}/${q.queueName}` }));
  // A secret is named by ARN, partial ARN (without the 6-character suffix) or name.
  const partialSecretArn = props.secretArn.replace(/-[A-Za-z0-9]{6}$/, '');
  const secretName = partialSecretArn.split(':secret:')[1] ?? partialSecretArn;
  // A function by name, ARN or partial ARN (`<account>:function:<name>`), each possibly qualified (`:alias`).
  const { functionName, functionArn } = props.function;
  const partialFunctionArn = `${stack.account}:function:${functionName}`;
  const functionIds = [functionName, functionArn, partialFunctionArn].flatMap((id) => [id, { prefix: `${id}:` }]);
  const notBy = (roleArns: string[]) => ({
    $or: [
      { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': roleArns }] } } },
      { sessionContext: { sessionIssuer: { arn: [{ exists: false }] } } },
    ],
  });
  const secretIds = [props.secretArn, partialSecretArn, secretName];
  const topicArn = props.topic.topicArn;
  const cloudTrail = (source: string[], alternatives: object[]): EventPattern =>
    ({
      source,
      detailType: ['AWS API Call via CloudTrail'],
      detail: {
        // Anything but the deployment role; an IAM user or the root user has no session issuer at all.
        userIdentity: notBy([props.deploymentRoleArn]),
        $or: alternatives,
      },
    }) as EventPattern;
  const resources = cloudTrail(
    ['aws.sqs', 'aws.secretsmanager', 'aws.kms', 'aws.sns'],
    [
      { eventSource: ['sqs.amazonaws.com'], eventName: SQS_TAMPERING, requestParameters: { queueUrl: queueUrls } },
      {
        eventSource: ['secretsmanager.amazonaws.com'],
        eventName: SECRET_TAMPERING,
        requestParameters: { secretId: secretIds },
      },
      {
        eventSource: ['secretsmanager.amazonaws.com'],
        eventName: CREDENTIAL_TAMPERING,
        requestParameters: { secretId: secretIds },
        ...(props.credentialRotationRoleArn ? { userIdentity: notBy([props.credentialRotationRoleArn]) } : {}),
      },
      { eventSource: ['sns.amazonaws.com'], eventName: TOPIC_TAMPERING, requestParameters: { topicArn: [topicArn] } },
      // Unsubscribing names the subscription, whose ARN is the topic's followed by `:<id>`.
      {
        eventSource: ['sns.amazonaws.com'],
        eventName: ['Unsubscribe'],
        requestParameters: { subscriptionArn: [{ prefix: `${topicArn}:` }] },
      },
      // A key is named by ID, ARN or alias in the request; CloudTrail lists it by ARN in resources.
      ...(props.queueKeyArn
        ? [{ eventSource: ['kms.amazonaws.com'], eventName: KEY_TAMPERING, resources: { ARN: [props.queueKeyArn] } }]
        : []),
    ],
  );
  const lambda = cloudTrail(
    ['aws.lambda'],
    [
      { eventName: prefixes(FUNCTION_TAMPERING), requestParameters: { functionName: functionIds } },
      {
        eventName: prefixes(MAPPING_TAMPERING),
        requestParameters: { uUID: [props.eventSourceMapping.eventSourceMappingId] },
      },
      { eventName: prefixes(ROLE_REUSE), requestParameters: { role: [props.functionRoleArn] } },
    ],
  );
  return { resources, lambda };
}
