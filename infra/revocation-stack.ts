/**
 * One revocation stack per environment: it only wires the constructs (queue, function, alarms) from the settings.
 */
import {
  Aws,
  CfnRule,
  DefaultStackSynthesizer,
  Duration,
  Fn,
  type IStackSynthesizer,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CredentialPolicy } from './constructs/credential-policy.js';
import { RevocationAlarms } from './constructs/revocation-alarms.js';
import { RevocationQueue } from './constructs/revocation-queue.js';
import { RevokerFunction } from './constructs/revoker-function.js';
import { TamperAlarm } from './constructs/tamper-alarm.js';
import { deploymentRoleArn } from './deployment-role.js';
import { type EnvironmentSettings, requestQueueName } from './environments.js';
import { functionEnvironment, METRICS_NAMESPACE, SERVICE_NAME, settingsRefs } from './function-environment.js';

export { METRICS_NAMESPACE, SERVICE_NAME } from './function-environment.js';

/** Props of {@link RevocationStack}. */
export interface RevocationStackProps extends StackProps {
  settings: EnvironmentSettings;
}

/** The revocation queue, the revoker function and their alarms for one environment. */
export class RevocationStack extends Stack {
  readonly revocationQueue: RevocationQueue;
  readonly revoker: RevokerFunction;
  readonly alarms: RevocationAlarms;
  readonly credentialPolicy: CredentialPolicy;
  readonly tamperAlarm: TamperAlarm;

  constructor(scope: Construct, id: string, props: RevocationStackProps) {
    const { settings } = props;
    super(scope, id, {
      ...props,
      // The settings give account and region together or neither (environments.ts).
      ...(settings.account && settings.region ? { env: { account: settings.account, region: settings.region } } : {}),
      description: `PAT revoker (${settings.name}): SQS revocation requests -> Dfns PAT deactivation`,
      // The cast: aws-cdk-lib's class types its bootstrapQualifier `string | undefined`, which its own interface does
      // not accept under exactOptionalPropertyTypes.
      ...(settings.bootstrapQualifier
        ? {
            synthesizer: new DefaultStackSynthesizer({ qualifier: settings.bootstrapQualifier }) as IStackSynthesizer,
          }
        : {}),
    });
    const deployer = deploymentRoleArn(this);
    const removalPolicy = settings.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const timeout = Duration.seconds(settings.functionTimeoutSeconds);

    this.revocationQueue = new RevocationQueue(this, 'Requests', {
      queueName: requestQueueName(settings.name),
      senders: settings.allowedSenders,
      operatorRoleArns: settings.operatorRoleArns,
      breakGlassRoleArn: settings.breakGlassRoleArn,
      deploymentRoleArn: deployer,
      visibilityTimeout: Duration.seconds(settings.visibilityTimeoutSeconds),
      maxReceiveCount: settings.maxReceiveCount,
      encryption: settings.queueEncryption,
      removalPolicy,
    });

    this.revoker = new RevokerFunction(this, 'Revoker', {
      queue: this.revocationQueue.queue,
      deadLetterQueue: this.revocationQueue.deadLetterQueue,
      ...(this.revocationQueue.key ? { queueKey: this.revocationQueue.key } : {}),
      credentialSecretArn: settings.credentialSecretArn,
      ...(settings.credentialSecretKmsKeyArn ? { credentialSecretKmsKeyArn: settings.credentialSecretKmsKeyArn } : {}),
      timeout,
      memorySize: settings.memoryMb,
      logRetention: settings.logRetentionDays,
      batchSize: settings.batchSize,
      maxBatchingWindow: Duration.seconds(settings.batchingWindowSeconds),
      maxConcurrency: settings.eventSourceMaxConcurrency,
      removalPolicy,
      // What synth measured against Lambda's 4 KB (environments.ts, deployedEnvironment), with the same references.
      environment: (refs) => functionEnvironment(settings, { ...refs, ...settingsRefs(settings) }),
    });

    this.revocationQueue.allowConsumer(this.revoker.role);
    this.credentialPolicy = new CredentialPolicy(this, 'CredentialPolicy', {
      secretArn: settings.credentialSecretArn,
      readerRoleArns: [
        this.revoker.role.roleArn,
        settings.breakGlassRoleArn,
        ...(settings.credentialRotationRoleArn ? [settings.credentialRotationRoleArn] : []),
      ],
      keeperRoleArns: [
        settings.breakGlassRoleArn,
        ...(settings.credentialRotationRoleArn ? [settings.credentialRotationRoleArn] : []),
      ],
      administratorRoleArns: [deployer, settings.breakGlassRoleArn],
    });

    if (!settings.region) {
      // Environment-agnostic: the secret ARN names a region, and the function reads it in its own.
      const secretRegion = settings.credentialSecretArn.split(':')[3] as string;
      new CfnRule(this, 'SecretInStackRegion', {
        assertions: [
          {
            assert: Fn.conditionEquals(Aws.REGION, secretRegion),
            assertDescription: `The credential secret is in ${secretRegion}: deploy this stack there.`,
          },
        ],
      });
    }

    this.alarms = new RevocationAlarms(this, 'Alarms', {
      queue: this.revocationQueue.queue,
      deadLetterQueue: this.revocationQueue.deadLetterQueue,
      function: this.revoker.function,
      functionTimeout: timeout,
      revocationSlo: Duration.seconds(settings.revocationSloSeconds),
      alarmEmails: settings.alarmEmails,
      metricsNamespace: METRICS_NAMESPACE,
      serviceName: SERVICE_NAME,
      dashboardName: `pat-revoker-${settings.name}`,
      pageOnDryRun: !settings.dryRun,
      budget: {
        requestsPerMinute: settings.dfnsRequestsPerMinute,
        organisation: settings.dfnsOrganisation,
        organisationRequestsPerMinute: settings.dfnsOrganisationRequestsPerMinute,
      },
    });

    this.tamperAlarm = new TamperAlarm(this, 'TamperAlarm', {
      queues: [this.revocationQueue.queue, this.revocationQueue.deadLetterQueue],
      secretArn: settings.credentialSecretArn,
      ...(settings.credentialRotationRoleArn ? { credentialRotationRoleArn: settings.credentialRotationRoleArn } : {}),
      function: this.revoker.function,
      functionRoleArn: this.revoker.role.roleArn,
      eventSourceMapping: this.revoker.eventSourceMapping,
      ...(this.revocationQueue.key ? { queueKeyArn: this.revocationQueue.key.keyArn } : {}),
      deploymentRoleArn: deployer,
      breakGlassRoleArn: settings.breakGlassRoleArn,
      topic: this.alarms.topic,
      environmentName: settings.name,
    });
  }
}
