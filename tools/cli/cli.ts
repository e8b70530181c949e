/**
 * The operator CLI: `pat-revoker enqueue | redrive | status` (from a checkout: `npm run -s revoke -- ...`), on the
 * project's one command-line framework (tools/command-line.ts).
 *
 * Exit codes: 0 done; 1 failed (an AWS call failed, a request was not queued, a move task failed, not confirmed);
 * 2 bad usage or invalid input, nothing sent; 130 interrupted (Ctrl-C), after saying what was done.
 */
import { formatError } from '../../functions/lib/format-error.js';
import { capLines } from '../../functions/lib/output-cap.js';
import { maskSecrets } from '../../functions/lib/secret-values.js';
import { MAX_TOKEN_IDS } from '../../functions/revoke-pats/request.js';
import { ENVIRONMENT_NAMES } from '../../infra/environments.js';
import {
  type Command,
  choice,
  collect,
  configure,
  EXIT,
  integer,
  Option,
  runProgram,
  single,
  toolProgram,
} from '../command-line.js';
import { TIMEOUT_DEFAULTS } from './aws.js';
import { runEnqueue, runRedrive, runStatus } from './commands.js';
import { CONFIRM_ABOVE_DEFAULT, NotConfirmed } from './confirm.js';
import type { CliIo } from './io.js';
import { MAX_SAMPLE } from './redrive.js';

export type { CliIo } from './io.js';

/** The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

/** Adds the options every command has. */
function addCommonOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--env <name>',
        `the deployed environment's request queue (${ENVIRONMENT_NAMES.join(', ')})`,
      ).argParser(choice(ENVIRONMENT_NAMES)),
    )
    .option('--queue-url <url>', 'the request queue, as a URL or an ARN (default $PAT_REVOKER_QUEUE_URL)', single)
    .option('--region <region>', "AWS region (default: the queue URL's, else $AWS_REGION or the profile's)", single)
    .option('--profile <name>', 'AWS profile from ~/.aws/config (default $AWS_PROFILE)', single)
    .option('--endpoint-url <url>', 'the SQS endpoint (default $AWS_ENDPOINT_URL_SQS, else $AWS_ENDPOINT_URL)', single)
    .addOption(
      new Option('--output <format>', 'results as table or json (default table)').argParser(
        choice(['table', 'json'] as const),
      ),
    )
    .option('-q, --quiet', 'no progress, no target line: results and errors only')
    .option('--connect-timeout <s>', `seconds to connect to AWS (default ${TIMEOUT_DEFAULTS.connect})`, integer(1, 60))
    .option(
      '--request-timeout <s>',
      `seconds for each AWS answer (default ${TIMEOUT_DEFAULTS.request})`,
      integer(1, 300),
    );
}

/**
 * Runs one CLI invocation.
 *
 * @param argv the arguments after the program (`enqueue --env dev to-...`)
 * @returns the exit code
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // commander's own messages quote what was typed: capped, and masked where a secret may have been pasted.
  const out = {
    stdout: (text: string) => io.stdout(capLines(text)),
    stderr: (text: string) => io.stderr(capLines(maskSecrets(text))),
    stderrChecked: (text: string) => io.stderr(capLines(text)),
  };
  const program = toolProgram(
    'pat-revoker',
    'Switch off Dfns personal access tokens through the revocation queue.',
    out,
  );
  program.addHelpText(
    'after',
    '\nExit codes: 0 done; 1 failed; 2 bad usage or invalid input (nothing sent); 130 interrupted.\n' +
      "From a checkout: npm run -s revoke -- <command> [options] (-s keeps npm's banner out of the output).",
  );
  let code: number = EXIT.done;
  const run = (action: () => Promise<number>) => async () => {
    code = await action();
  };

  const enqueue = addCommonOptions(configure(program.command('enqueue'), out))
    .description(
      `send revocation requests: validates every token ID first (any invalid: nothing sent), then requests of at most ${MAX_TOKEN_IDS} IDs`,
    )
    .argument('[tokenIds...]', 'token IDs (to-...)')
    .option('--file <path>', 'token IDs from a file ("-": standard input); repeatable', collect)
    .option('--incident <id>', 'incidentId of the requests', single)
    .option('--reason <text>', 'reason of the requests', single)
    .option('--requested-by <who>', 'requestedBy (default cli:<OS user>)', single)
    .option('--request-dry-run', 'the function validates and logs the requests but deactivates nothing')
    .option('-y, --yes', 'on prod, queue more than --confirm-above token IDs without asking (for scripts)')
    .option('--dry-run', 'a local preview: validate and show the requests, send nothing, call nothing')
    .option(
      '--confirm-above <n>',
      `on prod, confirm an enqueue of more token IDs (default ${CONFIRM_ABOVE_DEFAULT})`,
      integer(0, 1_000_000),
    )
    .option(
      '--resend-file <path>',
      'where the IDs not queued are written (default pat-revoker-not-queued-<time>.txt)',
      single,
    )
    .option(
      '--timeout <s>',
      `overall seconds (1-3600) before it stops and reports, counted after any prod confirmation (default ${TIMEOUT_DEFAULTS.overall})`,
      integer(1, 3600),
    );
  enqueue.action(run(() => runEnqueue(enqueue.args, enqueue.opts(), io)));

  const redrive = addCommonOptions(configure(program.command('redrive'), out))
    .description("move dead-lettered requests back to the request queue, from the DLQ of the queue's redrive policy")
    .option('--dlq-url <url>', "the DLQ, as a URL or an ARN (default: the queue's redrive policy's)", single)
    .option('--allow-other-dlq', "redrive from a --dlq-url that is not the queue's own DLQ")
    .option('--rate <n>', 'at most n messages per second (1-500; default: as fast as SQS goes)', integer(1, 500))
    .option(
      '--sample <n>',
      `DLQ messages looked at in the preview (0-${MAX_SAMPLE}; default 10)`,
      integer(0, MAX_SAMPLE),
    )
    .option('--dry-run', 'the preview only: start no move task')
    .option('--no-wait', 'start the move task and return; do not follow it')
    .option('-y, --yes', 'on prod, move without asking (for scripts)')
    .option(
      '--timeout <s>',
      'stop following the task after this many seconds (1-86400), counted after any prod confirmation (default: until it ends)',
      integer(1, 86_400),
    );
  redrive.action(run(() => runRedrive(redrive.opts(), io)));

  const status = addCommonOptions(configure(program.command('status'), out))
    .description('approximate counts of the request queue and its DLQ, the oldest message age, running move tasks')
    .option('--timeout <s>', `overall seconds (1-3600; default ${TIMEOUT_DEFAULTS.overall})`, integer(1, 3600));
  status.action(run(() => runStatus(status.opts(), io)));

  try {
    const parsed = await runProgram(program, argv, out);
    if (parsed !== EXIT.done) return parsed;
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    return io.interrupt.aborted && code !== EXIT.usage ? EXIT_INTERRUPTED : code;
  } catch (error) {
    if (error instanceof NotConfirmed) {
      out.stderr(`pat-revoker: ${error.message}\n`);
      return EXIT.failed;
    }
    out.stderr(`pat-revoker: ${formatError(error)}\n`);
    return io.interrupt.aborted ? EXIT_INTERRUPTED : EXIT.failed;
  }
}
