/**
 * The revocation queue and its dead-letter queue, hardened: encryption at rest, TLS only, only the configured
 * senders may send, the DLQ accepts redrives from this queue only.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AnyPrincipal,
  ArnPrincipal,
  Effect,
  PolicyStatement,
  ServicePrincipal,
  type IPrincipal,
} from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption, RedrivePermission } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Who may send revocation requests. */
export interface AllowedSenders {
  /** IAM role ARNs (same or other accounts). @default [] */
  roleArns?: string[];
  /** SNS topics (via `sns.amazonaws.com` with an `aws:SourceArn` condition). @default [] */
  snsTopicArns?: string[];
  /** EventBridge rules (via `events.amazonaws.com` with an `aws:SourceArn` condition). @default [] */
  eventBridgeRuleArns?: string[];
}

/** Props of {@link RevocationQueue}. */
export interface RevocationQueueProps {
  /** Name of the source queue; fixed so the DLQ's redrive-allow policy can name it without a circular reference. */
  queueName: string;
  /** Who may send. At least one role (operators redriving the DLQ send as themselves). */
  senders: AllowedSenders;
  /** Visibility timeout of the source queue; ≥ 6 × function timeout + batching window (checked by the settings). */
  visibilityTimeout: Duration;
  /** Deliveries before a record moves to the DLQ. @default 5 */
  maxReceiveCount?: number;
  /** `sqs-managed`: SSE-SQS; `kms`: a customer-managed key with rotation, for cross-account senders. @default 'sqs-managed' */
  encryption?: 'sqs-managed' | 'kms';
  /** @default RemovalPolicy.RETAIN */
  removalPolicy?: RemovalPolicy;
}

/** What a sender needs of the queue key to send (SQS encrypts with a data key). */
const KEY_ACTIONS_TO_SEND = ['kms:GenerateDataKey', 'kms:Decrypt'];

/** Standard queues: revocations are idempotent and independent, so FIFO ordering would only cost throughput. */
export class RevocationQueue extends Construct {
  /** Where revocation requests arrive. */
  readonly queue: Queue;
  /** Where permanent failures and exhausted records go. */
  readonly deadLetterQueue: Queue;
  /** The customer-managed key, when `encryption` is `kms`. */
  readonly key?: Key;

  constructor(scope: Construct, id: string, props: RevocationQueueProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const stack = Stack.of(this);
    if (props.encryption === 'kms') {
      this.key = new Key(this, 'Key', {
        description: `Encrypts the PAT revocation queues (${props.queueName})`,
        enableKeyRotation: true,
        removalPolicy,
      });
    }
    const encryption = this.key
      ? { encryption: QueueEncryption.KMS, encryptionMasterKey: this.key }
      : { encryption: QueueEncryption.SQS_MANAGED };
    const sourceQueueArn = stack.formatArn({ service: 'sqs', resource: props.queueName });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: `${props.queueName}-dlq`,
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      ...encryption,
      redriveAllowPolicy: {
        redrivePermission: RedrivePermission.BY_QUEUE,
        sourceQueues: [Queue.fromQueueArn(this, 'Source', sourceQueueArn)],
      },
      removalPolicy,
    });

    this.queue = new Queue(this, 'Queue', {
      queueName: props.queueName,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: Duration.days(4),
      enforceSSL: true,
      ...encryption,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      removalPolicy,
    });

    this.allowSenders(props.senders);
  }

  /**
   * Allows the configured senders and denies everyone else in the account: an IAM policy elsewhere granting
   * `sqs:SendMessage` on `*` must not open this queue.
   */
  private allowSenders(senders: AllowedSenders): void {
    const roles = senders.roleArns ?? [];
    const send = ['sqs:SendMessage'];
    if (roles.length > 0) {
      this.queue.addToResourcePolicy(
        new PolicyStatement({
          sid: 'AllowConfiguredRoles',
          actions: send,
          principals: roles.map((arn) => new ArnPrincipal(arn)),
          resources: [this.queue.queueArn],
        }),
      );
    }
    const services: Array<[string, string, string[]]> = [
      ['AllowSnsTopics', 'sns.amazonaws.com', senders.snsTopicArns ?? []],
      ['AllowEventBridgeRules', 'events.amazonaws.com', senders.eventBridgeRuleArns ?? []],
    ];
    for (const [sid, service, arns] of services) {
      if (arns.length === 0) continue;
      this.queue.addToResourcePolicy(
        new PolicyStatement({
          sid,
          actions: send,
          principals: [new ServicePrincipal(service)],
          resources: [this.queue.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': arns } },
        }),
      );
      // Senders encrypt with the queue key; the service may use it only for these sources (confused deputy).
      this.key?.addToResourcePolicy(
        new PolicyStatement({
          sid: `${sid}ToUseKey`,
          actions: KEY_ACTIONS_TO_SEND,
          principals: [new ServicePrincipal(service)],
          resources: ['*'],
          conditions: { ArnEquals: { 'aws:SourceArn': arns } },
        }),
      );
    }
    // Service principals carry aws:SourceArn and are held to the Allow statements above; every IAM principal
    // (no aws:SourceArn) that is not a configured role is denied. Operators who redrive the DLQ send with their
    // own identity, so their roles belong in the list (the settings require at least one role).
    this.queue.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyOtherSenders',
        effect: Effect.DENY,
        actions: send,
        principals: [new AnyPrincipal()],
        resources: [this.queue.queueArn],
        conditions: {
          Null: { 'aws:SourceArn': 'true' },
          ...(roles.length > 0 ? { ArnNotEquals: { 'aws:PrincipalArn': roles } } : {}),
        },
      }),
    );
    if (roles.length > 0) {
      this.key?.addToResourcePolicy(
        new PolicyStatement({
          sid: 'AllowConfiguredRolesToUseKey',
          actions: KEY_ACTIONS_TO_SEND,
          principals: roles.map((arn) => new ArnPrincipal(arn)),
          resources: ['*'],
        }),
      );
    }
  }

  /**
   * Only `writer` may send to the DLQ (SQS moves records there itself, without an IAM principal): a request
   * planted in the DLQ would otherwise be revoked by the next redrive, under the operator's identity.
   */
  allowDeadLetterWriter(writer: IPrincipal & { roleArn: string }): void {
    this.deadLetterQueue.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyOtherWriters',
        effect: Effect.DENY,
        actions: ['sqs:SendMessage'],
        principals: [new AnyPrincipal()],
        resources: [this.deadLetterQueue.queueArn],
        conditions: {
          Null: { 'aws:PrincipalArn': 'false' },
          ArnNotEquals: { 'aws:PrincipalArn': [writer.roleArn] },
        },
      }),
    );
  }
}
