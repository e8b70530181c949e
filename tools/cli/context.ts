/**
 * What every command shares once its options are parsed: the queue named, the region, the clients, the deadline,
 * and the writers. Built in one place so that each command starts the same way.
 */
import type { EnvironmentName } from '../../infra/environments.js';
import { UsageError } from '../command-line.js';
import { type AwsClients, awsClients, resolveRegion, sqsEndpointOf, TIMEOUT_DEFAULTS } from './aws.js';
import { type CliIo, type Presentation, type Writers, writers } from './io.js';
import { describeTarget, type QueueRef, queueRef, type TargetDescription, targetLine } from './target.js';

/** The options every command has (see `addCommonOptions` in cli.ts). */
export interface CommonOptions {
  env?: EnvironmentName;
  queueUrl?: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  output?: 'table' | 'json';
  quiet?: boolean;
  connectTimeout?: number;
  requestTimeout?: number;
  timeout?: number;
  yes?: boolean;
}

/** A command's surroundings. */
export interface Context {
  io: CliIo;
  write: Writers;
  presentation: Presentation;
  ref: QueueRef;
  region: string;
  clients: AwsClients;
  /** Aborts on Ctrl-C. */
  interrupt: AbortSignal;
  /**
   * Aborts on Ctrl-C and, when the command has one, at its overall timeout, which starts at the first call: after a
   * prod confirmation, so that the time an operator takes to answer is not taken from the work.
   */
  deadline(): AbortSignal;
  /** `--yes`: a prod confirmation is taken as given. */
  yes: boolean;
  /** Describes the target (caller's account, region, queue) and prints it unless `--quiet`. */
  showTarget(): Promise<TargetDescription>;
}

/**
 * The queue the options name: `--env`, `--queue-url`, else `PAT_REVOKER_QUEUE_URL` (the loopback world's env file
 * sets it), which stands in only when neither option is given.
 *
 * @throws UsageError as {@link queueRef}, and when `--region` differs from the region the queue's URL or ARN names
 */
export function namedQueue(options: CommonOptions, env: CliIo['env']): QueueRef {
  const ref = queueRef(options.env, options.queueUrl ?? (options.env ? undefined : env.PAT_REVOKER_QUEUE_URL));
  // The prod check compares the queue's own region with prod's, but SQS finds an ARN's queue (GetQueueUrl) by name
  // and account in the client's region, and an endpoint serves its own region whatever the URL's host says: with
  // --region prod's region, "arn:aws:sqs:<another region>:<prod account>:<prod queue>" reached prod's queue
  // unconfirmed. One region, or nothing is sent.
  if (options.region && ref.region && options.region !== ref.region) {
    throw new UsageError(
      `--region ${options.region}, but the queue is in ${ref.region} (its URL or ARN): give one region`,
    );
  }
  return ref;
}

/** `url`'s origin, or `url` itself when it does not parse (the SDK will say why). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** Why `signal` aborted, in words. */
export function abortReason(signal: AbortSignal): string {
  const reason = signal.reason as { name?: string; message?: string } | undefined;
  return reason?.name === 'TimeoutError' ? 'the overall --timeout passed' : (reason?.message ?? 'interrupted');
}

/** The presentation the options ask for. */
export function presentationOf(options: CommonOptions): Presentation {
  return { output: options.output ?? 'table', quiet: options.quiet === true };
}

/**
 * Builds the context: the queue, the region, the clients and the deadline.
 *
 * @param overall whether `--timeout` (default {@link TIMEOUT_DEFAULTS}.overall) bounds the command; a redrive that
 *   waits for its task is bounded only when `--timeout` is given
 * @throws UsageError for a queue that is not one, or no region (exit 2)
 */
export async function openContext(options: CommonOptions, io: CliIo, overall: boolean): Promise<Context> {
  const presentation = presentationOf(options);
  const write = writers(io, presentation);
  const ref = namedQueue(options, io.env);
  const region = await resolveRegion(options.region ?? ref.region, options.profile);
  const sqsEndpoint = sqsEndpointOf(options.endpointUrl, io.env);
  const clients = awsClients({
    region,
    ...(options.profile ? { profile: options.profile } : {}),
    ...(sqsEndpoint ? { sqsEndpoint } : {}),
    connectTimeout: options.connectTimeout ?? TIMEOUT_DEFAULTS.connect,
    requestTimeout: options.requestTimeout ?? TIMEOUT_DEFAULTS.request,
  });
  const timeout = options.timeout ?? (overall ? TIMEOUT_DEFAULTS.overall : undefined);
  let deadline: AbortSignal | undefined;
  let described: TargetDescription | undefined;
  return {
    io,
    write,
    presentation,
    ref,
    region,
    clients,
    interrupt: io.interrupt,
    deadline: () => {
      deadline ??=
        timeout === undefined ? io.interrupt : AbortSignal.any([io.interrupt, AbortSignal.timeout(timeout * 1000)]);
      return deadline;
    },
    yes: options.yes === true,
    async showTarget() {
      // Bounded by the connection and request timeouts; it precedes any confirmation.
      described ??= {
        ...(await describeTarget(clients.sts, ref, region, io.interrupt)),
        // The origin only: a URL typed with credentials in it shows none.
        ...(sqsEndpoint ? { sqsEndpoint: originOf(sqsEndpoint) } : {}),
      };
      write.infoChecked(targetLine(described, ref.account));
      return described;
    },
  };
}
