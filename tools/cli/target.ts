/**
 * Which queue a command acts on, in which account and region, and whether it is prod: from `--env` or `--queue-url`
 * (a URL or an ARN), then from AWS itself (the queue's ARN and redrive policy, the caller's account).
 */
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { formatError } from '../../functions/lib/format-error.js';
import { ENVIRONMENTS, type EnvironmentName, requestQueueName } from '../../infra/environments.js';
import { UsageError } from '../command-line.js';

/** A queue as the operator named it, before AWS was asked anything. */
export interface QueueRef {
  /** The queue's URL, when given as one (or built from `--env`). */
  url?: string;
  /** The queue's ARN, when given as one. */
  arn?: string;
  name: string;
  account: string;
  /** The region the URL's host or the ARN names, if any (a loopback URL names none). */
  region?: string;
  /** Whether this is prod's request queue (`--env prod`, or prod's queue URL or ARN from the settings). */
  prod: boolean;
}

/** A queue AWS has answered for. */
export interface Queue {
  url: string;
  arn: string;
  name: string;
}

const QUEUE_URL = /^https?:\/\/([^/]+)\/(\d{12})\/([\w-]{1,80})$/;
const QUEUE_ARN = /^arn:aws[\w-]*:sqs:([a-z0-9-]+):(\d{12}):([\w-]{1,80})$/;
const SQS_HOST = /^sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * Parses a queue given as a URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or a loopback one) or an
 * ARN (`arn:aws:sqs:<region>:<account>:<name>`).
 *
 * @param option the option's name, for the message
 * @throws UsageError naming the option when it is neither
 */
export function parseQueueRef(value: string, option: string): Omit<QueueRef, 'prod'> {
  const url = QUEUE_URL.exec(value);
  if (url) {
    const [, host, account, name] = url as unknown as [string, string, string, string];
    const region = SQS_HOST.exec(host)?.[1];
    return { url: value, name, account, ...(region ? { region } : {}) };
  }
  const arn = QUEUE_ARN.exec(value);
  if (arn) {
    const [, region, account, name] = arn as unknown as [string, string, string, string];
    return { arn: value, name, account, region };
  }
  throw new UsageError(
    `${option} must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) or ARN ` +
      `(arn:aws:sqs:<region>:<account>:<name>), got "${value}"`,
  );
}

/** The request queue of a deployed environment, from infra/environment-values.ts. */
function environmentQueue(name: EnvironmentName): Omit<QueueRef, 'prod'> {
  const { account, region } = ENVIRONMENTS[name];
  if (!account || !region) {
    throw new UsageError(
      `environment ${name} has no account and region in infra/environment-values.ts: give --queue-url`,
    );
  }
  const queue = requestQueueName(name);
  return { url: `https://sqs.${region}.amazonaws.com/${account}/${queue}`, name: queue, account, region };
}

/** Whether `ref` is prod's request queue as the settings name it. */
function isProdQueue(ref: Omit<QueueRef, 'prod'>): boolean {
  const { account, region } = ENVIRONMENTS.prod;
  return ref.name === requestQueueName('prod') && ref.account === account && (!ref.region || ref.region === region);
}

/**
 * The queue from `--env` or `--queue-url`.
 *
 * @throws UsageError when both or neither are given, or the value is not a queue
 */
export function queueRef(env: EnvironmentName | undefined, queueUrl: string | undefined): QueueRef {
  if (env && queueUrl) throw new UsageError('give --env or --queue-url, not both');
  if (env) {
    const ref = environmentQueue(env);
    return { ...ref, prod: env === 'prod' || isProdQueue(ref) };
  }
  if (!queueUrl) {
    throw new UsageError('give the queue: --env <name> or --queue-url <url or ARN> (or set PAT_REVOKER_QUEUE_URL)');
  }
  const ref = parseQueueRef(queueUrl, '--queue-url');
  return { ...ref, prod: isProdQueue(ref) };
}

/** The queue's URL, asking SQS for it when only the ARN was given. */
export async function queueUrlOf(sqs: SQSClient, ref: Omit<QueueRef, 'prod'>, signal?: AbortSignal): Promise<string> {
  if (ref.url) return ref.url;
  const { QueueUrl } = await naming(
    `cannot find the queue ${ref.arn ?? ref.name}`,
    sqs.send(
      new GetQueueUrlCommand({ QueueName: ref.name, QueueOwnerAWSAccountId: ref.account }),
      signal ? { abortSignal: signal } : {},
    ),
  );
  if (!QueueUrl) throw new Error(`SQS gave no URL for ${ref.arn}`);
  return QueueUrl;
}

/**
 * `work`, whose failure names the queue it was about: SQS' `QueueDoesNotExist` alone does not say whether the request
 * queue or its DLQ is missing.
 *
 * @throws Error `what`, caused by the failure
 */
async function naming<T>(what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new Error(what, { cause: error });
  }
}

/** What SQS says of a queue: its ARN, and the DLQ ARN of its redrive policy (absent without one). */
export async function describeQueue(
  sqs: SQSClient,
  url: string,
  signal?: AbortSignal,
): Promise<{ queue: Queue; deadLetterArn?: string }> {
  const { Attributes = {} } = await naming(
    `cannot read the queue ${url}`,
    sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'RedrivePolicy'] }),
      signal ? { abortSignal: signal } : {},
    ),
  );
  if (!Attributes.QueueArn) throw new Error(`SQS gave no QueueArn for ${url}`);
  const name = Attributes.QueueArn.split(':').pop() as string;
  let deadLetterArn: string | undefined;
  if (Attributes.RedrivePolicy) {
    deadLetterArn = (JSON.parse(Attributes.RedrivePolicy) as { deadLetterTargetArn?: string }).deadLetterTargetArn;
  }
  return { queue: { url, arn: Attributes.QueueArn, name }, ...(deadLetterArn ? { deadLetterArn } : {}) };
}

/** Who the commands run as, and where: shown before anything is sent. */
export interface TargetDescription {
  /** The account, and how it is known. */
  account: string;
  accountVerified: boolean;
  /** The caller's ARN (verified only). */
  caller?: string;
  /** Why the account is not verified: the GetCallerIdentity error. */
  unverifiedBecause?: string;
  region: string;
  queue: string;
  prod: boolean;
  /** The SQS endpoint the calls go to, when one is set (origin only). */
  sqsEndpoint?: string;
}

/**
 * The caller's account from `sts:GetCallerIdentity`; when that fails, the queue URL's account, marked not verified.
 * Never throws: the description is information, and its failure is said in it.
 */
export async function describeTarget(
  sts: STSClient,
  ref: QueueRef,
  region: string,
  signal?: AbortSignal,
): Promise<TargetDescription> {
  const base = { region, queue: ref.url ?? ref.arn ?? ref.name, prod: ref.prod };
  try {
    const { Account, Arn } = await sts.send(new GetCallerIdentityCommand({}), signal ? { abortSignal: signal } : {});
    if (!Account) throw new Error('GetCallerIdentity gave no account');
    return { ...base, account: Account, accountVerified: true, ...(Arn ? { caller: Arn } : {}) };
  } catch (error) {
    return { ...base, account: ref.account, accountVerified: false, unverifiedBecause: formatError(error) };
  }
}

/** The target in one line, e.g. `target: account 333333333333 (verified: arn:…), region eu-west-1, queue …  [PROD]`. */
export function targetLine(target: TargetDescription, queueAccount: string): string {
  const account = target.accountVerified
    ? `account ${target.account} (you are ${target.caller ?? 'verified'})`
    : `account ${queueAccount} (from the queue URL, not verified: ${target.unverifiedBecause ?? 'not asked'})`;
  // Another account's queue is possible (a cross-account sender) and worth a second look.
  const cross =
    target.accountVerified && target.account !== queueAccount ? `; the queue is in account ${queueAccount}` : '';
  const through = target.sqsEndpoint ? ` through endpoint ${target.sqsEndpoint}` : '';
  return `target: ${account}${cross}, region ${target.region}, queue ${target.queue}${through}${target.prod ? '  [PROD]' : ''}\n`;
}
