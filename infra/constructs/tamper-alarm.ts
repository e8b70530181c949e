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

/** SQS calls that stop or redirect revocations. */
export const SQS_TAMPERING = ['PurgeQueue', 'SetQueueAttributes', 'DeleteQueue', 'AddPermission', 'RemovePermission'];

/** Secrets Manager calls that change who may read the credential. */
export const SECRET_TAMPERING = ['PutResourcePolicy', 'DeleteResourcePolicy'];

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

/** Props of {@link TamperAlarm}. */
export interface TamperAlarmProps {
  queues: IQueue[];
  /** Complete ARN of the credential secret (name and partial ARN are derived: callers may use either). */
  secretArn: string;
  function: IFunction;
  eventSourceMapping: IEventSourceMapping;
  /** Calls by this role (the deployment's CloudFormation execution role) do not page. */
  deploymentRoleArn: string;
  /** Where the page goes (the alarm topic, which must take a resource policy statement). */
  topic: ITopic;
  /** Named in the message. */
  environmentName: string;
}

/** The EventBridge rule and its page. */
export class TamperAlarm extends Construct {
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: TamperAlarmProps) {
    super(scope, id);
    this.rule = new Rule(this, 'Rule', {
      description: `pat-revoker ${props.environmentName}: a queue, the credential policy or the function was changed outside a deploy`,
      eventPattern: tamperPattern(Stack.of(this), props),
    });
    const field = (path: string) => EventField.fromPath(path);
    // The target names the topic by ARN so that the grant below is the only one: EventBridge may publish for this
    // rule only (SnsTopic's own grant would let any rule of any account publish).
    props.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowTamperAlarmRule',
        actions: ['sns:Publish'],
        principals: [new ServicePrincipal('events.amazonaws.com')],
        resources: [props.topic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.rule.ruleArn } },
      }),
    );
    this.rule.addTarget(
      new SnsTopic(Topic.fromTopicArn(this, 'Topic', props.topic.topicArn), {
        message: RuleTargetInput.fromText(
          `pat-revoker ${props.environmentName}: ${field('$.detail.eventName')} (${field('$.detail.eventSource')}) ` +
            `by ${field('$.detail.userIdentity.arn')} from ${field('$.detail.sourceIPAddress')} at ` +
            `${field('$.detail.eventTime')}, outside a deploy. If nobody planned this change, treat it as an attack on ` +
            'the revocation path: check the queues, the function and the credential policy (README, Security model).',
        ),
      }),
    );
  }
}

/** The event pattern: any of the calls above on these resources, by anyone but the deployment role. */
function tamperPattern(stack: Stack, props: TamperAlarmProps): EventPattern {
  const prefixes = (names: string[]) => names.map((prefix) => ({ prefix }));
  // Callers name a queue by URL, in either of SQS' host forms: match the end, `/<account>/<name>`.
  const queueUrls = props.queues.map((q) => ({ suffix: `/${stack.account}/${q.queueName}` }));
  // A secret is named by ARN, partial ARN (without the 6-character suffix) or name.
  const partialSecretArn = props.secretArn.replace(/-[A-Za-z0-9]{6}$/, '');
  const secretName = partialSecretArn.split(':secret:')[1] ?? partialSecretArn;
  // A function by name or ARN, either possibly qualified (`:alias` or `:version`).
  const { functionName, functionArn } = props.function;
  const functionIds = [functionName, functionArn, { prefix: `${functionName}:` }, { prefix: `${functionArn}:` }];
  return {
    source: ['aws.sqs', 'aws.secretsmanager', 'aws.lambda'],
    detailType: ['AWS API Call via CloudTrail'],
    detail: {
      // Anything but the deployment role; an IAM user or the root user has no session issuer at all.
      userIdentity: {
        $or: [
          { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': props.deploymentRoleArn }] } } },
          { sessionContext: { sessionIssuer: { arn: [{ exists: false }] } } },
        ],
      },
      $or: [
        { eventSource: ['sqs.amazonaws.com'], eventName: SQS_TAMPERING, requestParameters: { queueUrl: queueUrls } },
        {
          eventSource: ['secretsmanager.amazonaws.com'],
          eventName: SECRET_TAMPERING,
          requestParameters: { secretId: [props.secretArn, partialSecretArn, secretName] },
        },
        {
          eventSource: ['lambda.amazonaws.com'],
          eventName: prefixes(FUNCTION_TAMPERING),
          requestParameters: { functionName: functionIds },
        },
        {
          eventSource: ['lambda.amazonaws.com'],
          eventName: prefixes(MAPPING_TAMPERING),
          requestParameters: { uUID: [props.eventSourceMapping.eventSourceMappingId] },
        },
      ],
    },
  } as EventPattern;
}
