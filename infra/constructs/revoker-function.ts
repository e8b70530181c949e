/**
 * The revoker Lambda with the house defaults: ESM bundle by local esbuild, newest Node runtime, arm64, explicit
 * log group, active tracing, a least-privilege role, and the SQS event source mapping with partial batch
 * responses.
 */
import { Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  ApplicationLogLevel,
  Architecture,
  type EventSourceMapping,
  LoggingFormat,
  Runtime,
  Tracing,
  RecursiveLoop,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { FunctionRefs } from '../function-environment.js';
import { sqsKeyConditions } from './revocation-queue.js';
import { Construct } from 'constructs';

/** Concurrent invocations of the event source mapping when none is given. */
const DEFAULT_EVENT_SOURCE_MAX_CONCURRENCY = 5;
import { ESBUILD_TARGET, ESM_REQUIRE_BANNER, HANDLER_ENTRY, MAIN_FIELDS, PROJECT_ROOT } from '../bundling.js';

/**
 * The runtime. nodejs24.x is the newest Lambda Node runtime in aws-cdk-lib 2.276 (what cdk-nag AwsSolutions-L1
 * asks for) and the one supported longest; the bundle targets node22 syntax, which it runs unchanged.
 */
export const REVOKER_RUNTIME = Runtime.NODEJS_24_X;

/** Props of {@link RevokerFunction}. */
export interface RevokerFunctionProps {
  /** The queue the function consumes. */
  queue: IQueue;
  /** The DLQ the function sends permanent failures to. */
  deadLetterQueue: IQueue;
  /**
   * The customer-managed key of both queues, if any: the role may decrypt requests and encrypt dead letters with it,
   * through SQS and for these queues only. @default SQS-managed SSE
   */
  queueKey?: IKey;
  /** Complete ARN of the credential secret: the only secret the role may read. */
  credentialSecretArn: string;
  /** KMS key of that secret, when customer-managed: the role may decrypt with it through Secrets Manager only. @default none */
  credentialSecretKmsKeyArn?: string;
  /**
   * The function's environment (CONTRACT sections 2 and 8), given where the DLQ, the source queue and the role are
   * (infra/function-environment.ts builds it, for the stack and the loopback world alike).
   */
  environment: (
    refs: Pick<FunctionRefs, 'deadLetterQueueUrl' | 'sourceQueueUrls' | 'functionRoleId'>,
  ) => Record<string, string>;
  /** @default Duration.seconds(60) */
  timeout?: Duration;
  /** In MB. @default 512 */
  memorySize?: number;
  /** @default RetentionDays.ONE_YEAR */
  logRetention?: RetentionDays;
  /** Records per invocation. @default 10 */
  batchSize?: number;
  /** @default Duration.seconds(1) */
  maxBatchingWindow?: Duration;
  /** Concurrent invocations the event source mapping may run. @default 5 */
  maxConcurrency?: number;
  /** Of the log group. @default RemovalPolicy.RETAIN */
  removalPolicy?: RemovalPolicy;
}

/** The revoker function and its event source mapping. No reserved concurrency: it would throttle SQS pollers. */
export class RevokerFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  readonly eventSourceMapping: EventSourceMapping;

  constructor(scope: Construct, id: string, props: RevokerFunctionProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_YEAR,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    // A role of our own instead of the AWSLambdaBasicExecutionRole managed policy: logs to this log group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'PAT revoker: read the Dfns credential, send to its DLQ, write its logs and traces',
    });
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'OwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn, `${this.logGroup.logGroupArn}:log-stream:*`],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'ReadDfnsCredential',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.credentialSecretArn],
      }),
    );
    if (props.credentialSecretKmsKeyArn) {
      this.role.addToPolicy(
        new PolicyStatement({
          sid: 'DecryptDfnsCredential',
          effect: Effect.ALLOW,
          actions: ['kms:Decrypt'],
          resources: [props.credentialSecretKmsKeyArn],
          // Through Secrets Manager, for this secret only (its ARN is the encryption context Secrets Manager sets).
          conditions: {
            StringEquals: {
              'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com`,
              'kms:EncryptionContext:SecretARN': props.credentialSecretArn,
            },
          },
        }),
      );
    }

    this.function = new NodejsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: REVOKER_RUNTIME,
      architecture: Architecture.ARM_64,
      timeout: props.timeout ?? Duration.seconds(60),
      memorySize: props.memorySize ?? 512,
      tracing: Tracing.ACTIVE,
      // JSON lines at an application level of INFO: audit lines are INFO, and Lambda drops lines below its level
      // (this also sets AWS_LAMBDA_LOG_LEVEL, which overrides POWERTOOLS_LOG_LEVEL for diagnostic lines).
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      role: this.role,
      logGroup: this.logGroup,
      environment: props.environment({
        deadLetterQueueUrl: props.deadLetterQueue.queueUrl,
        sourceQueueUrls: [props.queue.queueUrl],
        functionRoleId: this.role.roleId,
      }),
      // Continuations make a loop through the function's own queue; Lambda's recursive-loop detection would drop a
      // chain after 16 hops with no audit line. The function bounds its chains itself (24 hours, 500 continuations).
      recursiveLoop: RecursiveLoop.ALLOW,
      description: 'Deactivates Dfns PATs named in SQS revocation requests (pat-revoker)',
      bundling: {
        format: OutputFormat.ESM,
        target: ESBUILD_TARGET,
        mainFields: MAIN_FIELDS,
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: false,
        // Everything bundled, the AWS SDK included: the code that runs is the code that was tested, whatever SDK
        // version the runtime ships (about 485 KB minified; `npm run size`).
        externalModules: [],
        forceDockerBundling: false,
      },
    });

    // Only SendMessage (grantSendMessages would add GetQueueAttributes/GetQueueUrl and kms:ReEncrypt*/Encrypt).
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'SendToDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [props.deadLetterQueue.queueArn],
      }),
    );
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'SendContinuations',
        actions: ['sqs:SendMessage'],
        resources: [props.queue.queueArn],
      }),
    );
    // What the event source mapping does with the function's role, written out instead of SqsEventSource's grant
    // (which adds GetQueueUrl and an unconditioned kms:Decrypt).
    this.role.addToPolicy(
      new PolicyStatement({
        sid: 'ConsumeRequests',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        resources: [props.queue.queueArn],
      }),
    );
    if (props.queueKey) {
      this.role.addToPolicy(
        new PolicyStatement({
          sid: 'DecryptRequests',
          actions: ['kms:Decrypt'],
          resources: [props.queueKey.keyArn],
          conditions: sqsKeyConditions(stack.region, [props.queue.queueArn]),
        }),
      );
      this.role.addToPolicy(
        new PolicyStatement({
          sid: 'EncryptContinuations',
          actions: ['kms:GenerateDataKey'],
          resources: [props.queueKey.keyArn],
          conditions: sqsKeyConditions(stack.region, [props.queue.queueArn]),
        }),
      );
      this.role.addToPolicy(
        new PolicyStatement({
          sid: 'EncryptForDeadLetterQueue',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [props.queueKey.keyArn],
          conditions: sqsKeyConditions(stack.region, [props.deadLetterQueue.queueArn]),
        }),
      );
    }
    // The construct ID SqsEventSource used: the same logical ID, so a deployed mapping is updated, not replaced.
    this.eventSourceMapping = this.function.addEventSourceMapping(
      `SqsEventSource:${Names.nodeUniqueId(props.queue.node)}`,
      {
        eventSourceArn: props.queue.queueArn,
        batchSize: props.batchSize ?? 10,
        maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(1),
        maxConcurrency: props.maxConcurrency ?? DEFAULT_EVENT_SOURCE_MAX_CONCURRENCY,
        reportBatchItemFailures: true,
      },
    );
    // Lambda checks the role's SQS permissions when it creates the mapping.
    if (this.role.node.tryFindChild('DefaultPolicy')) {
      this.eventSourceMapping.node.addDependency(this.role.node.findChild('DefaultPolicy'));
    }
  }
}
