/**
 * The revocation queue and its dead-letter queue, hardened: encryption at rest, TLS only, only the configured
 * senders may send, nobody but the function (and break-glass) consumes or purges requests, nobody but the operators
 * (and the function, and break-glass) consumes or moves dead letters, nobody but the deployment (and break-glass)
 * reconfigures either queue, and no other queue may dead-letter into the request queue.
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
import { denyAllBut } from './deny-all-but.js';

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
  /** Who may send besides the operators. */
  senders: AllowedSenders;
  /** Operators: they send (a redrive sends as the caller) and receive, delete and move dead letters. At least one. */
  operatorRoleArns: string[];
  /** The break-glass role: exempt from every deny below. */
  breakGlassRoleArn: string;
  /** The role CloudFormation deploys with: the only other principal that may change the queues' attributes. */
  deploymentRoleArn: string;
  /** Visibility timeout of the source queue; ≥ 6 × function timeout + batching window (checked by the settings). */
  visibilityTimeout: Duration;
  /** Deliveries before a record moves to the DLQ. @default 5 */
  maxReceiveCount?: number;
  /** `sqs-managed`: SSE-SQS; `kms`: a customer-managed key with rotation, for cross-account senders. @default 'sqs-managed' */
  encryption?: 'sqs-managed' | 'kms';
  /** @default RemovalPolicy.RETAIN */
  removalPolicy?: RemovalPolicy;
}

/** The dead-letter queue's name, from the request queue's. */
export const deadLetterQueueNameOf = (queueName: string): string => `${queueName}-dlq`;

/** What a sender needs of the queue key to send (SQS encrypts with a data key). */
const KEY_ACTIONS_TO_SEND = ['kms:GenerateDataKey', 'kms:Decrypt'];

/**
 * Largest message of both queues, in bytes (256 KiB): the function's request limit (CONTRACT section 4), so a sender
 * learns of a too-large request at send time, and what a dead letter may grow to, so it can always be redriven.
 */
export const MAX_MESSAGE_SIZE_BYTES = 262_144;

/**
 * How long a request waits in the request queue, in days. A request is worth acting on as long as the token may be
 * live, so the queue keeps it through a long Dfns or AWS outage (a weekend); it cannot be shorter than a record's
 * receives (maxReceiveCount × the visibility timeout, under an hour) and must stay under the DLQ's retention, since a
 * message keeps its first enqueue time when SQS moves it to the DLQ.
 */
export const REQUEST_RETENTION_DAYS = 4;

/** How long a dead letter waits for a human, in days (SQS' maximum): longer than {@link REQUEST_RETENTION_DAYS}. */
export const DEAD_LETTER_RETENTION_DAYS = 14;

/** Consuming: what the event source mapping (request queue) or an operator's redrive (DLQ) does. */
const CONSUME = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:PurgeQueue'];
/** Reconfiguring: a changed policy, redrive policy or visibility timeout defeats every other control. */
const ADMINISTER = ['sqs:SetQueueAttributes', 'sqs:AddPermission', 'sqs:RemovePermission', 'sqs:DeleteQueue'];

/** Standard queues: revocations are idempotent and independent, so FIFO ordering would only cost throughput. */
export class RevocationQueue extends Construct {
  /** Where revocation requests arrive. */
  readonly queue: Queue;
  /** Where permanent failures and exhausted records go. */
  readonly deadLetterQueue: Queue;
  /** The customer-managed key, when `encryption` is `kms`. */
  readonly key?: Key;
  /** The queues' ARNs, formatted from their names (usable where a reference to the queue would make a cycle). */
  readonly queueArns: { requests: string; deadLetters: string };
  private readonly access: Pick<RevocationQueueProps, 'operatorRoleArns' | 'breakGlassRoleArn'>;
  /** The deny of every other IAM sender, and the roles it exempts (the consumer is added by allowConsumer). */
  private denyOtherSenders: PolicyStatement | undefined;
  private senderRoleArns: string[] = [];

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
    // Built from the names, not the queues: the key policy may not refer to the queues the key encrypts (a cycle).
    const sourceQueueArn = stack.formatArn({ service: 'sqs', resource: props.queueName });
    const deadLetterQueueName = deadLetterQueueNameOf(props.queueName);
    const deadLetterQueueArn = stack.formatArn({ service: 'sqs', resource: deadLetterQueueName });
    this.queueArns = { requests: sourceQueueArn, deadLetters: deadLetterQueueArn };
    this.access = { operatorRoleArns: props.operatorRoleArns, breakGlassRoleArn: props.breakGlassRoleArn };

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: deadLetterQueueName,
      retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
      maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
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
      retentionPeriod: Duration.days(REQUEST_RETENTION_DAYS),
      maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
      enforceSSL: true,
      ...encryption,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      // By default any queue of the account may name this one as its DLQ: SQS itself would then move that queue's
      // failures in here, past the sender allow-list (it applies to SendMessage only), and they would be revoked.
      redriveAllowPolicy: { redrivePermission: RedrivePermission.DENY_ALL },
      removalPolicy,
    });

    this.allowSenders(props.senders, props.operatorRoleArns);
    for (const queue of [this.queue, this.deadLetterQueue]) {
      this.denyAllBut(queue, 'DenyOtherAdministrators', ADMINISTER, [props.deploymentRoleArn, props.breakGlassRoleArn]);
      // Named as a principal (an ARN inside a condition is never checked): SQS refuses a policy naming a role that
      // does not exist, so a mistyped break-glass ARN fails the deploy instead of silently removing the way back in.
      queue.addToResourcePolicy(
        new PolicyStatement({
          sid: 'AllowBreakGlassToInspect',
          actions: ['sqs:GetQueueAttributes'],
          principals: [new ArnPrincipal(props.breakGlassRoleArn)],
          resources: [queue.queueArn],
        }),
      );
    }
  }

  /**
   * Allows the configured senders and denies everyone else in the account: an IAM policy elsewhere granting
   * `sqs:SendMessage` on `*` must not open this queue.
   */
  private allowSenders(senders: AllowedSenders, operatorRoleArns: string[]): void {
    const roles = [...(senders.roleArns ?? []), ...operatorRoleArns];
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
    // own identity, so their roles are in the list (the settings require at least one).
    this.senderRoleArns = roles;
    this.denyOtherSenders = new PolicyStatement({
      sid: 'DenyOtherSenders',
      effect: Effect.DENY,
      actions: send,
      principals: [new AnyPrincipal()],
      resources: [this.queue.queueArn],
      conditions: {
        Null: { 'aws:SourceArn': 'true' },
        ...(roles.length > 0 ? { ArnNotEquals: { 'aws:PrincipalArn': roles } } : {}),
      },
    });
    this.queue.addToResourcePolicy(this.denyOtherSenders);
    // Roles use the key only through SQS and only for these queues: senders for the request queue, operators for
    // both (they send to one and receive from the other).
    const keyUse: Array<[string, string[], string[]]> = [
      ['AllowConfiguredRolesToUseKey', senders.roleArns ?? [], [this.queueArns.requests]],
      ['AllowOperatorsToUseKey', operatorRoleArns, [this.queueArns.requests, this.queueArns.deadLetters]],
    ];
    for (const [sid, arns, queueArns] of keyUse) {
      if (arns.length === 0) continue;
      this.key?.addToResourcePolicy(
        new PolicyStatement({
          sid,
          actions: KEY_ACTIONS_TO_SEND,
          principals: arns.map((arn) => new ArnPrincipal(arn)),
          resources: ['*'],
          conditions: sqsKeyConditions(Stack.of(this).region, queueArns),
        }),
      );
    }
  }

  /** Denies `actions` on `queue` to every IAM principal but `allowed` (role ARNs, tokens allowed). */
  private denyAllBut(queue: Queue, sid: string, actions: string[], allowed: string[]): void {
    queue.addToResourcePolicy(denyAllBut(sid, actions, queue.queueArn, allowed));
  }

  /**
   * Makes `consumer` (the function's role) the only consumer of the request queue besides break-glass, a sender to it
   * (its continuations), and the only writer of the DLQ; only it, the operators and break-glass may receive, delete, purge or move dead letters.
   * Anyone else with broad SQS rights could otherwise drain the requests: the leaked token stays on, nothing pages.
   */
  allowConsumer(consumer: IPrincipal & { roleArn: string }): void {
    const { operatorRoleArns, breakGlassRoleArn } = this.access;
    // The function sends continuations (CONTRACT section 8) to the request queue: it is a sender too.
    this.denyOtherSenders?.addCondition('ArnNotEquals', {
      'aws:PrincipalArn': [...this.senderRoleArns, consumer.roleArn],
    });
    this.denyAllBut(this.queue, 'DenyOtherConsumers', CONSUME, [consumer.roleArn, breakGlassRoleArn]);
    this.denyAllBut(
      this.deadLetterQueue,
      'DenyOtherConsumers',
      [...CONSUME, 'sqs:StartMessageMoveTask'],
      [consumer.roleArn, ...operatorRoleArns, breakGlassRoleArn],
    );
    // Cancelling an operator's redrive is theirs (and break-glass') alone.
    this.denyAllBut(
      this.deadLetterQueue,
      'DenyOtherMoveCancels',
      ['sqs:CancelMessageMoveTask'],
      [...operatorRoleArns, breakGlassRoleArn],
    );
    this.allowDeadLetterWriter(consumer);
  }

  /**
   * Only `writer` may send to the DLQ (SQS moves records there itself, without an IAM principal): a request
   * planted in the DLQ would otherwise be revoked by the next redrive, under the operator's identity.
   */
  private allowDeadLetterWriter(writer: IPrincipal & { roleArn: string }): void {
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

/**
 * Conditions that hold a grant of an SQS queue key to use through SQS, for these queues only: SQS passes the queue
 * ARN as the encryption context `aws:sqs:arn`.
 */
export function sqsKeyConditions(region: string, queueArns: string[]): Record<string, Record<string, unknown>> {
  return {
    StringEquals: {
      'kms:ViaService': `sqs.${region}.amazonaws.com`,
      'kms:EncryptionContext:aws:sqs:arn': queueArns,
    },
  };
}
