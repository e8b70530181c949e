/**
 * The cdk-nag findings this design accepts, each on the construct it concerns and with its reason. Anything else
 * fails synth (and the tests): a new finding is either fixed or argued here.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { RevocationStack } from './revocation-stack.js';

/** One accepted finding. */
export interface NagAcknowledgement {
  /** The rule (and finding) as cdk-nag names it. */
  id: string;
  reason: string;
}

/** The accepted findings per construct of a {@link RevocationStack}. */
export function nagAcknowledgements(stack: RevocationStack): Array<[IConstruct, NagAcknowledgement]> {
  const role = stack.revoker.role;
  return [
    [
      role,
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions (AWS X-Ray IAM reference).',
      },
    ],
    [
      role,
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${stack.getLogicalId(stack.revoker.logGroup.node.defaultChild as never)}.Arn>:log-stream:*]`,
        reason:
          'Lambda names its log streams at run time; the grant is limited to the streams of the function’s own log group.',
      },
    ],
    [
      stack.revocationQueue.deadLetterQueue,
      {
        id: 'Serverless::Serverless-SQSRedrivePolicy',
        reason:
          'This queue is the dead-letter queue: its messages wait for a human and are redriven to the source queue, never onward.',
      },
    ],
    [
      stack.revoker.function,
      {
        id: 'Serverless::Serverless-LambdaDLQ',
        reason:
          'The function is invoked synchronously by the SQS event source mapping; a Lambda async DLQ would never receive anything. The SQS redrive policy (maxReceiveCount) and the function’s own dead-lettering do that job.',
      },
    ],
    [
      stack.revoker.function,
      {
        id: 'Serverless::Serverless-LambdaEventSourceMappingDestination',
        reason:
          'SQS event sources have no on-failure destination; the source queue’s redrive policy to the DLQ is the failure path.',
      },
    ],
    ...stack.tamperAlarm.rules.map((rule): [IConstruct, NagAcknowledgement] => [
      rule,
      {
        id: 'Serverless::Serverless-EventBusDLQ',
        reason:
          'The only target is the alarm topic. A DLQ of undelivered tampering pages would need an alarm of its own, which would page through that same topic; the CloudTrail trail keeps the events either way.',
      },
    ]),
    [
      stack.alarms.topic,
      {
        id: 'Serverless::Serverless-SNSRedrivePolicy',
        reason:
          'Subscriptions are e-mail addresses of on-call humans; a DLQ of undelivered alarm mails would have no reader. The alarms also stay visible in ALARM state and on the dashboard.',
      },
    ],
  ];
}

/** Acknowledges the accepted findings on the constructs they concern. */
export function acknowledgeNagFindings(stack: RevocationStack): void {
  for (const [construct, acknowledgement] of nagAcknowledgements(stack)) {
    Validations.of(construct).acknowledge(acknowledgement);
  }
}
