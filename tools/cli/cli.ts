/**
 * The operator CLI: `pat-revoker enqueue | redrive | status` (also `npm run revoke -- ...`).
 *
 * Exit codes: 0 done; 1 an AWS call failed (or some requests were not accepted); 2 bad usage or invalid input,
 * nothing sent.
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { ENVIRONMENTS, ENVIRONMENT_NAMES, type EnvironmentName } from '../../infra/environments.js';
import { formatError } from '../../functions/lib/format-error.js';
import { capLines, listed, notShownMarker } from '../../functions/lib/output-cap.js';
import { maskSecrets } from '../../functions/lib/secret-values.js';
import { MAX_METADATA_CHARS, MAX_TOKEN_IDS } from '../../functions/revoke-pats/request.js';
import { entryOf, plainTextValues } from '../../functions/revoke-pats/token-entry.js';

/** Where the CLI reads and writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Standard input, read only when asked for (`--file -`). */
  readStdin: () => string;
}

/** AWS clients; injectable for tests. */
export interface CliClients {
  sqs?: SQSClient;
  cloudwatch?: CloudWatchClient;
}

/** SendMessageBatch takes at most 10 entries (SQS quota). */
const SQS_BATCH = 10;

const USAGE: Record<string, string> = {
  main: `Usage: pat-revoker <command> [options]      (from a checkout: npm run revoke -- <command> [options])

Commands:
  enqueue   send revocation requests for token IDs
  redrive   move dead-lettered requests back to the request queue
  status    queue and DLQ depth, oldest message age

Every command takes the queue as --env <${ENVIRONMENT_NAMES.join('|')}> (URL from infra/environments.ts) or
--queue-url <url> (the DLQ is <url>-dlq unless --dlq-url is given). AWS credentials and region come from the
usual AWS environment. "pat-revoker <command> --help" for each command.

Exit codes: 0 done; 1 an AWS call failed or a request was not accepted; 2 bad usage or invalid input (nothing sent).`,
  enqueue: `Usage: pat-revoker enqueue [token IDs...] [--file <path>|-] [options]

Validates every token ID locally first and refuses the whole command if any is invalid (listing them); then
sends requests of at most ${MAX_TOKEN_IDS} IDs with SendMessageBatch and prints each message ID.

  --file <path>           token IDs from a file ("-": standard input), separated by whitespace, commas or lines
  --incident <id>         incidentId of the requests
  --reason <text>         reason
  --requested-by <who>    requestedBy (default: the OS user)
  --dry-run               requests are dry runs: validated and logged, nothing deactivated
  --env <name> | --queue-url <url> [--region <region>]`,
  redrive: `Usage: pat-revoker redrive [--rate <messages per second>] [options]

Starts an SQS message move task from the DLQ back to the request queue (StartMessageMoveTask) and prints its
status. Redriving sends with your identity: your role must be one of the environment's operatorRoleArns.

  --rate <n>              at most n messages per second (1-500; default: as fast as SQS goes)
  --env <name> | --queue-url <url> [--dlq-url <url>] [--region <region>]`,
  status: `Usage: pat-revoker status [options]

Prints the request queue's and the DLQ's depth (visible, in flight) and their oldest message age (CloudWatch
ApproximateAgeOfOldestMessage, last 5 minutes).

  --env <name> | --queue-url <url> [--dlq-url <url>] [--region <region>]`,
};

class UsageError extends Error {}

/** Runs one CLI invocation and returns its exit code. */
export async function runCli(argv: string[], rawIo: CliIo, clients: CliClients = {}): Promise<number> {
  // Every line the CLI prints is within the one output cap, whatever an argument or a file held.
  const io: CliIo = {
    ...rawIo,
    // Every line is capped. Messages (stderr) may echo what an operator typed: anything secret-shaped there (a token
    // or a key pasted as an argument or an option's value) is shown only by its start and fingerprint. Results
    // (stdout) are AWS' answers, message IDs and move-task handles, which must stay usable as printed.
    stdout: (text) => rawIo.stdout(capLines(text)),
    stderr: (text) => rawIo.stderr(capLines(maskSecrets(text))),
  };
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.stdout(`${USAGE.main}\n`);
      return command === undefined ? 2 : 0;
    }
    if (!['enqueue', 'redrive', 'status'].includes(command)) throw new UsageError(`unknown command "${command}"`);
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: command === 'enqueue',
      options: {
        help: { type: 'boolean', short: 'h' },
        env: { type: 'string' },
        'queue-url': { type: 'string' },
        'dlq-url': { type: 'string' },
        region: { type: 'string' },
        file: { type: 'string' },
        incident: { type: 'string' },
        reason: { type: 'string' },
        'requested-by': { type: 'string' },
        'dry-run': { type: 'boolean' },
        rate: { type: 'string' },
      },
    });
    if (values.help) {
      io.stdout(`${USAGE[command]}\n`);
      return 0;
    }
    const target = resolveTarget(values);
    const sqs = clients.sqs ?? new SQSClient(target.region ? { region: target.region } : {});
    if (command === 'enqueue') return await enqueue(positionals, values, target, sqs, io);
    if (command === 'redrive') return await redrive(values.rate, target, sqs, io);
    const cloudwatch = clients.cloudwatch ?? new CloudWatchClient(target.region ? { region: target.region } : {});
    return await status(target, sqs, cloudwatch, io);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`pat-revoker: ${(error as Error).message}\n\n${USAGE[command ?? 'main'] ?? USAGE.main}\n`);
      return 2;
    }
    io.stderr(`pat-revoker: ${formatError(error)}\n`);
    return 1;
  }
}

interface Target {
  queueUrl: string;
  dlqUrl: string;
  region?: string;
}

function resolveTarget(values: { env?: string; 'queue-url'?: string; 'dlq-url'?: string; region?: string }): Target {
  if (values.env && values['queue-url']) throw new UsageError('give --env or --queue-url, not both');
  let queueUrl = values['queue-url'];
  let region = values.region;
  if (values.env) {
    if (!ENVIRONMENT_NAMES.includes(values.env as EnvironmentName)) {
      throw new UsageError(`--env must be one of ${ENVIRONMENT_NAMES.join(', ')}, got "${values.env}"`);
    }
    const settings = ENVIRONMENTS[values.env as EnvironmentName];
    if (!settings.account || !settings.region) {
      throw new UsageError(
        `environment ${values.env} has no account/region in infra/environments.ts: give --queue-url`,
      );
    }
    region ??= settings.region;
    queueUrl = `https://sqs.${settings.region}.amazonaws.com/${settings.account}/pat-revoker-${values.env}-requests`;
  }
  if (!queueUrl) throw new UsageError('give the queue: --env <name> or --queue-url <url>');
  if (!/^https?:\/\/[^/]+\/\d{12}\/[\w-]+$/.test(queueUrl)) {
    throw new UsageError(
      `--queue-url must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>), got "${queueUrl}"`,
    );
  }
  region ??= /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com\//.exec(queueUrl)?.[1];
  return { queueUrl, dlqUrl: values['dlq-url'] ?? `${queueUrl}-dlq`, ...(region ? { region } : {}) };
}

async function enqueue(
  positionals: string[],
  values: { file?: string; incident?: string; reason?: string; 'requested-by'?: string; 'dry-run'?: boolean },
  target: Target,
  sqs: SQSClient,
  io: CliIo,
): Promise<number> {
  const raw = [...positionals];
  if (values.file !== undefined) {
    let text: string;
    try {
      text = values.file === '-' ? io.readStdin() : readFileSync(values.file, 'utf8');
    } catch (error) {
      throw new UsageError(
        `cannot read --file ${values.file}: ${(error as { code?: string } | undefined)?.code ?? formatError(error)}`,
      );
    }
    for (const piece of plainTextValues(text)) raw.push(piece);
  }
  if (raw.length === 0) throw new UsageError('no token ID: give them as arguments or with --file');
  const invalid: string[] = [];
  const tokenIds = new Set<string>();
  for (const value of raw) {
    // A secret pasted by mistake is shown only as its fingerprint, as the function shows it.
    const entry = entryOf(value);
    if (entry.valid) tokenIds.add(entry.tokenId);
    else invalid.push(`  ${JSON.stringify(entry.raw)}: ${entry.detail}`);
  }
  if (invalid.length > 0) {
    const { shown, notShown } = listed(invalid);
    const lines = [
      `pat-revoker: refused, nothing sent: ${invalid.length} invalid token ID(s)`,
      ...shown,
      ...(notShown > 0 ? [`  ${notShownMarker(notShown)}`] : []),
    ];
    io.stderr(`${lines.join('\n')}\n`);
    return 2;
  }

  const ids = [...tokenIds];
  const requests: string[] = [];
  for (let i = 0; i < ids.length; i += MAX_TOKEN_IDS) {
    requests.push(
      // Metadata is cut as the function cuts it, so ten requests always fit one SendMessageBatch.
      JSON.stringify({
        tokenIds: ids.slice(i, i + MAX_TOKEN_IDS),
        ...(values.incident ? { incidentId: values.incident.slice(0, MAX_METADATA_CHARS) } : {}),
        ...(values.reason ? { reason: values.reason.slice(0, MAX_METADATA_CHARS) } : {}),
        requestedBy: (values['requested-by'] || `cli:${operator()}`).slice(0, MAX_METADATA_CHARS),
        ...(values['dry-run'] ? { dryRun: true } : {}),
      }),
    );
  }
  const idsOf = (n: number) => (JSON.parse(requests[n] as string) as { tokenIds: string[] }).tokenIds;
  let sent = 0;
  let accepted = 0;
  const notSent: string[] = [];
  for (let i = 0; i < requests.length; i += SQS_BATCH) {
    const chunk = requests.slice(i, i + SQS_BATCH);
    let answer: SendMessageBatchCommandOutput;
    try {
      answer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: target.queueUrl,
          Entries: chunk.map((body, j) => ({ Id: String(i + j), MessageBody: body })),
        }),
      );
    } catch (error) {
      // Nothing of this batch or after it was sent: say exactly which token IDs, so they can be sent again.
      for (let n = i; n < requests.length; n += 1) notSent.push(...idsOf(n));
      io.stderr(`pat-revoker: SendMessageBatch failed: ${formatError(error)}\n`);
      break;
    }
    for (const ok of answer.Successful ?? []) {
      const count = idsOf(Number(ok.Id)).length;
      io.stdout(`${ok.MessageId}\t${count} token ID(s)\n`);
      sent += count;
      accepted += 1;
    }
    for (const bad of answer.Failed ?? []) {
      notSent.push(...idsOf(Number(bad.Id)));
      io.stderr(
        `pat-revoker: a request of ${idsOf(Number(bad.Id)).length} token ID(s) was not accepted: ${bad.Code} ${bad.Message ?? ''}\n`,
      );
    }
    if (requests.length > SQS_BATCH) io.stderr(`sent ${sent}/${ids.length} token IDs\n`);
  }
  io.stderr(`${sent} token ID(s) in ${accepted} request(s) queued${values['dry-run'] ? ' as dry runs' : ''}\n`);
  if (notSent.length > 0) {
    io.stderr(`NOT queued (${notSent.length}), send them again:\n${notSent.join('\n')}\n`);
    return 1;
  }
  return 0;
}

/** The OS user, for the default requestedBy. */
function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return 'operator';
  }
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  if (!Attributes?.QueueArn) throw new Error(`no QueueArn for ${url}`);
  return Attributes.QueueArn;
}

async function redrive(rate: string | undefined, target: Target, sqs: SQSClient, io: CliIo): Promise<number> {
  if (rate !== undefined && (!/^\d+$/.test(rate) || Number(rate) < 1 || Number(rate) > 500)) {
    throw new UsageError(`--rate must be a whole number from 1 to 500, got "${rate}"`);
  }
  const [source, destination] = await Promise.all([queueArn(sqs, target.dlqUrl), queueArn(sqs, target.queueUrl)]);
  const { TaskHandle } = await sqs.send(
    new StartMessageMoveTaskCommand({
      SourceArn: source,
      DestinationArn: destination,
      ...(rate ? { MaxNumberOfMessagesPerSecond: Number(rate) } : {}),
    }),
  );
  const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: source, MaxResults: 1 }));
  const task = Results[0];
  io.stdout(
    `move task ${TaskHandle ?? '(no handle)'}: ${task?.Status ?? 'UNKNOWN'}, ${task?.ApproximateNumberOfMessagesMoved ?? 0} of ` +
      `${task?.ApproximateNumberOfMessagesToMove ?? '?'} moved, ${source} -> ${destination}\n`,
  );
  return task?.Status === 'FAILED' ? 1 : 0;
}

async function status(target: Target, sqs: SQSClient, cloudwatch: CloudWatchClient, io: CliIo): Promise<number> {
  // The queue name is the last segment of a queue URL, which always has one.
  const queues = [target.queueUrl, target.dlqUrl].map((url) => ({ url, name: url.split('/').pop() as string }));
  const names = queues.map((q) => q.name);
  const depths = await Promise.all(
    queues.map(async ({ url, name }) => {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return {
        name,
        visible: Attributes.ApproximateNumberOfMessages ?? '?',
        inFlight: Attributes.ApproximateNumberOfMessagesNotVisible ?? '?',
      };
    }),
  );
  let ages: Array<string> = ['unknown', 'unknown'];
  try {
    const end = new Date();
    const { MetricDataResults = [] } = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(end.getTime() - 5 * 60_000),
        EndTime: end,
        MetricDataQueries: names.map((name, i) => ({
          Id: `q${i}`,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateAgeOfOldestMessage',
              Dimensions: [{ Name: 'QueueName', Value: name }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        })),
      }),
    );
    ages = names.map((_, i) => {
      const values = MetricDataResults.find((r) => r.Id === `q${i}`)?.Values ?? [];
      return values.length ? `${Math.max(...values)} s` : 'no data (empty queue?)';
    });
  } catch (error) {
    io.stderr(`pat-revoker: oldest message age unavailable (${formatError(error)})\n`);
  }
  io.stdout(`queue                                   visible  in flight  oldest\n`);
  depths.forEach(({ name, visible, inFlight }, i) => {
    io.stdout(`${name.padEnd(40)}${visible.padStart(7)}  ${inFlight.padStart(9)}  ${ages[i]}\n`);
  });
  return 0;
}
