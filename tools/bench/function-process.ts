/**
 * Runs the bundled handler in a process of its own (tools/bench/function-main.mjs), one SQS event at a time, as a
 * Lambda container would, and collects what it logged and measured.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { SQSEvent } from 'aws-lambda';
import { lambdaContext } from '../aws/lambda-events.js';

const FUNCTION_MAIN = fileURLToPath(new URL('./function-main.mjs', import.meta.url));

/** What one function process did. */
export interface FunctionRun {
  /** Wall time from the first invocation's start to the last one's end, s. */
  seconds: number;
  /** CPU of all invocations, µs. */
  cpuMicros: number;
  /** CPU of the invocations after the first (a warm container), µs; undefined with one invocation. */
  warmCpuMicros: number | undefined;
  /** Peak resident memory of the process, import included, KB. */
  maxRssKb: number;
  /** Heap after a full GC at the end, MB. */
  liveHeapMb: number | undefined;
  /** Records the handler asked SQS to retry, over all invocations. */
  retriedRecords: number;
  /** Node process warnings. */
  warnings: string[];
  /** The audit lines (`"message":"revocation"`), parsed. */
  audit: Array<{ latencyMs: number; outcome: string }>;
}

type FromFunction =
  | { type: 'ready'; initMs: number }
  | { type: 'done'; retriedRecords: number }
  | {
      type: 'measurements';
      cpuMicros: number;
      warmCpuMicros?: number;
      maxRssKb: number;
      liveHeapMb?: number;
      warnings: string[];
    };

/**
 * Starts a function process with `env` (the function's whole environment), invokes it with each event in order,
 * and returns its measurements.
 *
 * @throws when the process dies or answers out of turn (its stderr is in the message)
 */
export async function runFunctionProcess(
  bundle: string,
  env: Record<string, string>,
  events: SQSEvent[],
): Promise<FunctionRun> {
  const fn = spawn(process.execPath, ['--expose-gc', FUNCTION_MAIN, bundle], {
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stdout = '';
  let stderr = '';
  // Both are pipes by the stdio above; Node's types cannot tell with an 'ipc' channel in the list.
  if (fn.stdout === null || fn.stderr === null)
    throw new Error('bench: the function process has no stdout or stderr pipe');
  fn.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  fn.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close', not 'exit': only then has all of the process's stdout (its audit lines) been read.
  const closed = once(fn, 'close');
  const next = async <T extends FromFunction['type']>(type: T): Promise<Extract<FromFunction, { type: T }>> => {
    const [message] = (await Promise.race([once(fn, 'message'), closed.then(() => [undefined])])) as [
      FromFunction | undefined,
    ];
    if (message?.type !== type)
      throw new Error(
        `the function process ${message ? `said ${message.type}` : 'exited'} while the bench waited for ${type}: ${stderr}`,
      );
    return message as Extract<FromFunction, { type: T }>;
  };
  try {
    await next('ready');
    // A context without its functions (they do not cross IPC): the function process adds the deadline.
    const context = JSON.parse(JSON.stringify(lambdaContext(900_000))) as unknown;
    let retriedRecords = 0;
    const started = performance.now();
    for (const event of events) {
      fn.send({ type: 'invoke', event, context });
      retriedRecords += (await next('done')).retriedRecords;
    }
    const seconds = (performance.now() - started) / 1000;
    fn.send({ type: 'finish' });
    const measured = await next('measurements');
    await closed;
    const audit = stdout
      .split('\n')
      .filter((line) => line.includes('"message":"revocation"'))
      .map((line) => JSON.parse(line) as { latencyMs: number; outcome: string });
    return {
      seconds,
      cpuMicros: measured.cpuMicros,
      warmCpuMicros: measured.warmCpuMicros,
      maxRssKb: measured.maxRssKb,
      liveHeapMb: measured.liveHeapMb,
      retriedRecords,
      warnings: measured.warnings,
      audit,
    };
  } finally {
    if (fn.exitCode === null) fn.kill('SIGKILL');
  }
}
