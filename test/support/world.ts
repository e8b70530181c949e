/**
 * Everything the handler talks to, on loopback: the Dfns sandbox, a Secrets Manager responder holding the
 * service-account credential, and an SQS with the dead-letter queue. `handler()` builds a fresh container (a cold
 * start) from an environment pointing at them, the way Lambda would.
 */
import { recordOutput } from './hygiene-buffer.js';
import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseConfig } from '../../functions/lib/config.js';
import { createContainer, type ContainerOverrides } from '../../functions/revoke-pats/container.js';
import { createHandler } from '../../functions/revoke-pats/wiring.js';
import { startSecretsManager, type SecretsManagerResponder } from '../../tools/aws/secrets-manager.js';
import { startSqs, type LoopbackSqs } from '../../tools/aws/sqs.js';
import type { KeyKind } from '../../tools/sandbox/ids.js';
import { startSandbox, type DfnsSandbox, type ServiceAccountSecret } from '../../tools/sandbox/sandbox.js';
import { lambdaContext, sqsEvent, type RecordSpec } from './events.js';
import { captureOutput, stopAllCaptures, type Captured } from './stdout.js';

export const SECRET_ID = 'pat-revoker/dfns-credential';
/**
 * The function's role (for `FUNCTION_ROLE_ID`) and the `SenderId` of what the function sends to the loopback SQS: the
 * world gives the function (process-wide `AWS_ACCESS_KEY_ID`) credentials that the SQS maps to this role session.
 */
export const FUNCTION_ROLE_ID = 'AROALOOPBACKFUNCTION1';
export const FUNCTION_SENDER_ID = `${FUNCTION_ROLE_ID}:pat-revoker`;

/** The loopback world of one test file. */
export interface World {
  sandbox: DfnsSandbox;
  secrets: SecretsManagerResponder;
  sqs: LoopbackSqs;
  /** The service account's credential, as stored in the secret. */
  secret: ServiceAccountSecret;
  /** The function's environment (CONTRACT section 2). */
  env: Record<string, string>;
  /** The module's own `handler` export, built at import from `env` (one container for the whole file). */
  deployed: (records: RecordSpec[], remainingMs?: number) => Promise<SQSBatchResponse>;
  /** A new handler (a cold start) with `env` plus `extraEnv`, and collaborators replaced by `overrides`. */
  handler(
    extraEnv?: Record<string, string>,
    overrides?: ContainerOverrides,
  ): (records: RecordSpec[], remainingMs?: number) => Promise<SQSBatchResponse>;
  /** Like {@link World.handler}, for whole events (records really received from a loopback queue). */
  eventHandler(
    extraEnv?: Record<string, string>,
    overrides?: ContainerOverrides,
  ): (event: SQSEvent, remainingMs?: number) => Promise<SQSBatchResponse>;
  /**
   * Back to a clean state between tests: a fresh Ed25519 account in the secret, no scripted faults, nothing
   * recorded, an empty DLQ.
   */
  reset(): Promise<void>;
  /** Registers a new service account of `kind` and stores its credential in the secret. */
  useAccount(kind: KeyKind): ServiceAccountSecret;
  close(): Promise<void>;
}

/**
 * Starts the world, sets the function's environment process-wide (one world per test file) and imports the handler
 * module, which validates that environment at load as it does in Lambda.
 */
export async function startWorld(kind: KeyKind = 'ed25519'): Promise<World> {
  const [sandbox, secrets, sqs] = await Promise.all([startSandbox(), startSecretsManager(), startSqs()]);
  // What the function sent (dead letters, continuations) is output too: the suite's leak scan reads each one that is
  // received. A test's own requests may hold a secret on purpose; they are not the function's output.
  sqs.observeReceived((body, senderId) => {
    if (senderId === FUNCTION_SENDER_ID) recordOutput(body);
  });
  const env: Record<string, string> = {
    DFNS_API_URL: sandbox.url,
    DFNS_CREDENTIALS_SECRET_ID: SECRET_ID,
    DEAD_LETTER_QUEUE_URL: sqs.deadLetterQueueUrl,
    DFNS_REQUEST_TIMEOUT_MS: '2000',
  };
  // AWS_ENDPOINT_URL_SQS only quiets the SDK's "QueueUrl differs from endpoint" warning: it sends to the queue's host.
  const endpoints = {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ENDPOINT_URL_SQS: new URL(sqs.deadLetterQueueUrl).origin,
  };
  const identity = { AWS_ACCESS_KEY_ID: sqs.credentialsFor(FUNCTION_SENDER_ID).accessKeyId };
  Object.assign(process.env, env, endpoints, identity);
  const { handler: deployed } = await import('../../functions/revoke-pats/handler.js');
  const world: World = {
    sandbox,
    secrets,
    sqs,
    secret: undefined as unknown as ServiceAccountSecret,
    env,
    deployed: (records, remainingMs) =>
      deployed(sqsEvent(records), lambdaContext(remainingMs)) as Promise<SQSBatchResponse>,
    handler(extraEnv = {}, overrides = {}) {
      const handler = createHandler(createContainer(parseConfig({ ...env, ...extraEnv }), overrides));
      return (records, remainingMs) =>
        handler(sqsEvent(records), lambdaContext(remainingMs)) as Promise<SQSBatchResponse>;
    },
    eventHandler(extraEnv = {}, overrides = {}) {
      const handler = createHandler(createContainer(parseConfig({ ...env, ...extraEnv }), overrides));
      return (event, remainingMs) => handler(event, lambdaContext(remainingMs)) as Promise<SQSBatchResponse>;
    },
    async reset() {
      world.useAccount('ed25519');
      sandbox.faults.clear();
      sandbox.resetRecording();
      secrets.calls.length = 0;
      secrets.clearFaults();
      await sqs.drainDeadLetters();
    },
    useAccount(accountKind) {
      world.secret = sandbox.createServiceAccount({ kind: accountKind });
      secrets.setSecret(SECRET_ID, JSON.stringify(world.secret));
      return world.secret;
    },
    async close() {
      for (const name of [...Object.keys(env), ...Object.keys(endpoints), ...Object.keys(identity)]) {
        delete process.env[name];
      }
      await Promise.all([sandbox.close(), secrets.close(), sqs.close()]);
    },
  };
  world.useAccount(kind);
  return world;
}

/**
 * The lifecycle every handler test file shares: one world for the file, a clean world and a fresh output capture
 * for each test (handed over through `bind`), every capture stopped after it.
 */
export function useWorld(bind: { world(world: World): void; output(output: Captured): void }): void {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
    bind.world(world);
  });
  afterAll(async () => world.close());
  beforeEach(async () => {
    await world.reset();
    bind.output(captureOutput());
  });
  afterEach(() => stopAllCaptures());
}
