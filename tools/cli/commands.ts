/**
 * The three commands, start to end: each checks its input, shows its target, confirms a prod change, acts, and
 * reports, using the pieces in enqueue.ts, redrive.ts and status.ts.
 */
import { formatError } from '../../functions/lib/format-error.js';
import { maskSecrets } from '../../functions/lib/secret-values.js';
import { EXIT } from '../command-line.js';
import { CONFIRM_ABOVE_DEFAULT, confirmProd } from './confirm.js';
import { abortReason, type CommonOptions, type Context, namedQueue, openContext, presentationOf } from './context.js';
import { type EnqueueInput, planRequests, reportEnqueue, sendRequests } from './enqueue.js';
import { type CliIo, printJson, table, writers } from './io.js';
import { startProgress } from './progress.js';
import { COME_BACK, deadLetterQueue, followTask, preview, runningTask, startTask } from './redrive.js';
import { addAges, moveTasks, type QueueStatus, queueCounts, taskSummary } from './status.js';
import { describeQueue, parseQueueRef, queueUrlOf } from './target.js';

/** Runs `work` with the context, and releases the clients after. */
async function withContext(
  options: CommonOptions,
  io: CliIo,
  overall: boolean,
  work: (context: Context) => Promise<number>,
): Promise<number> {
  const context = await openContext(options, io, overall);
  try {
    return await work(context);
  } finally {
    context.clients.destroy();
  }
}

/** The options of `enqueue`. */
export interface EnqueueOptions extends CommonOptions {
  file?: string[];
  incident?: string;
  reason?: string;
  requestedBy?: string;
  requestDryRun?: boolean;
  dryRun?: boolean;
  confirmAbove?: number;
  resendFile?: string;
}

/** `enqueue`: see enqueue.ts. */
export async function runEnqueue(args: string[], options: EnqueueOptions, io: CliIo): Promise<number> {
  const input: EnqueueInput = {
    args,
    files: options.file ?? [],
    ...(options.incident !== undefined ? { incident: options.incident } : {}),
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    ...(options.requestedBy !== undefined ? { requestedBy: options.requestedBy } : {}),
    requestDryRun: options.requestDryRun === true,
  };
  const presentation = presentationOf(options);
  const requests = planRequests(input, io, writers(io, presentation));
  const tokens = requests.reduce((n, r) => n + r.tokenIds.length, 0);
  if (options.dryRun) return previewEnqueue(options, io, requests, tokens);

  return withContext(options, io, true, async (context) => {
    const { write, ref, clients } = context;
    const target = await context.showTarget();
    if (ref.prod && tokens > (options.confirmAbove ?? CONFIRM_ABOVE_DEFAULT)) {
      await confirmProd(io, `queue ${tokens} token IDs on prod (${ref.name})`, context.yes);
    }
    const signal = context.deadline();
    const queueUrl = await queueUrlOf(clients.sqs, ref, signal);
    const progress = startProgress(io, presentation, tokens, 'token IDs handled');
    const results = await sendRequests(
      (command, abortSignal) => clients.sqsSend.send(command, { abortSignal }),
      queueUrl,
      requests,
      signal,
      (done) => progress.update(done),
    );
    progress.stop();
    if (signal.aborted) write.message(`stopped: ${abortReason(signal)}\n`);
    const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
    const all = reportEnqueue(
      results,
      write,
      presentation.output,
      options.resendFile ?? `pat-revoker-not-queued-${stamp}.txt`,
      sendAgainOptions(options),
      { target, requestDryRun: input.requestDryRun },
    );
    return all ? EXIT.done : EXIT.failed;
  });
}

/**
 * The options that send again to the same queue with the same metadata: for the command printed beside the file of
 * IDs not queued, so that a copy of it goes where the first went (not to $PAT_REVOKER_QUEUE_URL's queue).
 */
function sendAgainOptions(options: EnqueueOptions): string {
  const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  // Metadata as it was sent: a secret pasted into it is shown (and was sent) only as its fingerprint. The queue was
  // checked against its pattern; region and profile name where AWS goes.
  const metadata = (value: string | undefined) => (value === undefined ? undefined : maskSecrets(value));
  const pairs: Array<[string, string | undefined]> = [
    ['--env', options.env],
    ['--queue-url', options.env ? undefined : options.queueUrl],
    ['--region', options.region],
    ['--profile', options.profile],
    ['--incident', metadata(options.incident)],
    ['--reason', metadata(options.reason)],
    ['--requested-by', metadata(options.requestedBy)],
  ];
  return [
    ...pairs.filter(([, value]) => value !== undefined).map(([name, value]) => `${name} ${quote(value as string)}`),
    ...(options.requestDryRun ? ['--request-dry-run'] : []),
  ].join(' ');
}

/** `enqueue --dry-run`: what would be sent, and where, with no call to anything. */
function previewEnqueue(
  options: EnqueueOptions,
  io: CliIo,
  requests: ReadonlyArray<{ body: string; tokenIds: string[] }>,
  tokens: number,
): number {
  const presentation = presentationOf(options);
  const write = writers(io, presentation);
  const ref = namedQueue(options, io.env);
  const where = `${ref.url ?? ref.arn} (account ${ref.account} from the queue URL, not verified)${ref.prod ? '  [PROD]' : ''}`;
  if (presentation.output === 'json') {
    printJson(write, {
      dryRun: true,
      target: { queue: ref.url ?? ref.arn, account: ref.account, accountVerified: false, prod: ref.prod },
      count: tokens,
      requests: requests.map((r) => ({ count: r.tokenIds.length, tokenIds: r.tokenIds, body: JSON.parse(r.body) })),
    });
  } else {
    write.result(
      table(
        ['request', 'token IDs', 'first', 'last'],
        requests.map((r, i) => [i + 1, r.tokenIds.length, r.tokenIds[0] ?? '', r.tokenIds.at(-1) ?? '']),
      ),
    );
  }
  write.infoChecked(
    `dry run: ${tokens} token ID(s) in ${requests.length} request(s) would go to ${where}; nothing sent\n`,
  );
  return EXIT.done;
}

/** The options of `redrive`. */
export interface RedriveOptions extends CommonOptions {
  dlqUrl?: string;
  allowOtherDlq?: boolean;
  rate?: number;
  sample?: number;
  dryRun?: boolean;
  wait?: boolean;
}

/** `redrive`: see redrive.ts. */
export async function runRedrive(options: RedriveOptions, io: CliIo): Promise<number> {
  return withContext(options, io, false, async (context) => {
    const { write, ref, clients, presentation } = context;
    // The overall --timeout, when given, starts after a prod confirmation.
    let signal = context.interrupt;
    const target = await context.showTarget();
    const { queue, deadLetterArn } = await describeQueue(
      clients.sqs,
      await queueUrlOf(clients.sqs, ref, signal),
      signal,
    );
    const dlq = await deadLetterQueue(
      clients.sqs,
      queue,
      deadLetterArn,
      options.dlqUrl,
      options.allowOtherDlq === true,
      signal,
    );
    const { running, earlier } = await runningTask(clients.sqs, dlq, signal);
    if (running) {
      const task = taskSummary(running);
      write.messageChecked(
        `a move task is already ${task.status.toLowerCase()} from ${dlq.name} (started ${task.startedAt ?? '?'}, ${task.moved} of ` +
          `${task.toMove ?? '?'} moved, handle ${task.handle ?? '?'}): not starting another; watch it with status\n`,
      );
      return EXIT.failed;
    }
    const seen = await preview(clients.sqs, dlq, options.sample ?? 10, signal);
    const json: Record<string, unknown> = { target, source: dlq.arn, destination: queue.arn, preview: seen };
    // The preview is a dry run's result (stdout, shown with --quiet); otherwise information before the move.
    const show = options.dryRun && presentation.output === 'table' ? write.result : write.info;
    const comeBack = [...COME_BACK];
    show(
      `${dlq.name}: about ${seen.visible} message(s) to move (${seen.inFlight} in flight, not moved now)\n` +
        `a sample of ${seen.sampled} (made visible again at once), per outcome: ` +
        `${
          Object.entries(seen.outcomes)
            .map(([o, n]) => `${o} ${n}`)
            .join(', ') || 'none'
        }\n` +
        (seen.comeBack > 0
          ? `${seen.comeBack} of the sample hold ${comeBack.slice(0, -1).join(', ')} or ${comeBack.at(-1)} tokens, which come straight back unless their request is fixed\n`
          : '') +
        'redriven messages get new message IDs\n',
    );
    if (seen.visible === 0) {
      return finish(context, json, 'nothing to redrive', EXIT.done);
    }
    if (options.dryRun) return finish(context, json, 'dry run: no move task started', EXIT.done);
    if (ref.prod)
      await confirmProd(
        io,
        `move about ${seen.visible} message(s) from ${dlq.name} into prod's request queue`,
        context.yes,
      );
    signal = context.deadline();
    const started = { ...(await startTask(clients.sqs, dlq, queue, options.rate, signal)), earlier };
    json.taskHandle = started.handle;
    write.infoChecked(`move task started: ${started.handle}\n`);
    if (options.wait === false) return finish(context, json, 'started; not following it (--no-wait)', EXIT.done);
    const progress = startProgress(io, presentation, seen.visible, 'messages moved');
    let task: Awaited<ReturnType<typeof followTask>>;
    try {
      task = await followTask(clients.sqs, dlq, started, signal, (t) =>
        progress.update(t.ApproximateNumberOfMessagesMoved ?? 0, t.ApproximateNumberOfMessagesToMove),
      );
    } catch (error) {
      // A look at the task that failed (SQS refused, timed out) or was cut by Ctrl-C while it waited: the task was
      // started and goes on, which the report must still say (with its handle in JSON), not just the error.
      task = undefined;
      if (!signal.aborted) json.followError = formatError(error);
    } finally {
      progress.stop();
    }
    if (!task) {
      const why = signal.aborted ? abortReason(signal) : (json.followError as string);
      return finish(
        context,
        json,
        `stopped following (${why}); the task goes on in SQS (handle ${started.handle})`,
        EXIT.failed,
      );
    }
    json.task = { ...taskSummary(task), failureReason: task.FailureReason };
    const line = `move task ${task.Status}: ${task.ApproximateNumberOfMessagesMoved ?? 0} of ${task.ApproximateNumberOfMessagesToMove ?? '?'} moved, ${dlq.name} -> ${queue.name}${task.FailureReason ? `: ${task.FailureReason}` : ''}`;
    return finish(context, json, line, task.Status === 'COMPLETED' ? EXIT.done : EXIT.failed);
  });
}

/** Prints a redrive's last line (or its JSON document) and returns `code`. */
function finish(context: Context, json: Record<string, unknown>, line: string, code: number): number {
  if (context.presentation.output === 'json') printJson(context.write, { ...json, result: line, exitCode: code });
  else context.write.result(`${code === EXIT.done ? line : context.write.paint(line, 'red')}\n`);
  return code;
}

/** `status`: see status.ts. */
export async function runStatus(options: CommonOptions, io: CliIo): Promise<number> {
  return withContext(options, io, true, async (context) => {
    const { write, ref, clients, presentation } = context;
    const signal = context.deadline();
    const target = await context.showTarget();
    let queues: QueueStatus[] = [{ role: 'requests', name: ref.name }];
    try {
      const { queue, deadLetterArn } = await describeQueue(
        clients.sqs,
        await queueUrlOf(clients.sqs, ref, signal),
        signal,
      );
      queues = [{ role: 'requests', name: queue.name, url: queue.url }];
      if (deadLetterArn) {
        const dlqRef = parseQueueRef(deadLetterArn, "the queue's redrive policy");
        const dlq: QueueStatus = { role: 'dead letters', name: dlqRef.name };
        try {
          dlq.url = await queueUrlOf(clients.sqs, dlqRef, signal);
          const tasks = await moveTasks(clients.sqs, deadLetterArn, signal);
          if (typeof tasks === 'string') dlq.ageNote = tasks;
          else dlq.moveTasks = tasks;
        } catch (error) {
          dlq.error = formatError(error);
        }
        queues.push(dlq);
      }
    } catch (error) {
      queues[0] = { ...(queues[0] as QueueStatus), error: formatError(error) };
    }
    queues = await Promise.all(queues.map((q) => queueCounts(clients.sqs, q, signal)));
    const failed = queues.some((q) => q.error !== undefined);
    queues = await addAges(clients.cloudwatch, queues, signal);
    if (presentation.output === 'json') {
      printJson(write, { target, approximate: true, queues });
    } else {
      const n = (v: number | undefined) => (v === undefined ? '?' : v);
      write.result(
        table(
          ['queue', 'name', 'visible', 'in flight', 'delayed', 'oldest message (CloudWatch)'],
          queues.map((q) => [
            q.role,
            q.name,
            n(q.visible),
            n(q.inFlight),
            n(q.delayed),
            q.oldestAgeSeconds !== undefined ? `${q.oldestAgeSeconds} s at ${q.oldestAgeAt}` : (q.ageNote ?? ''),
          ]),
        ),
      );
      for (const q of queues) if (q.error) write.result(`${q.role}: counts unknown: ${q.error}\n`);
      for (const q of queues)
        for (const t of q.moveTasks ?? [])
          write.result(
            `move task ${t.status} from ${q.name}: ${t.moved} of ${t.toMove ?? '?'} moved, started ${t.startedAt ?? '?'}\n`,
          );
      write.info(
        'counts are approximate (SQS); delayed messages on the request queue are mostly continuations waiting for the ' +
          'Dfns budget; CloudWatch lags a few minutes behind the queue\n',
      );
    }
    return failed ? EXIT.failed : EXIT.done;
  });
}
