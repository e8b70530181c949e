/**
 * One emulated Lambda execution environment ("container"): a `node` child process running container-main.mjs, which
 * imports the handler module once and keeps its module state between invocations, one invocation at a time.
 *
 * Lambda's lifecycle, as modelled here (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):
 * - Init runs once per environment and is limited to 10 seconds, apart from the function timeout;
 * - an environment that answered is reused warm by a later invocation;
 * - "If the Lambda function crashes or times out during the Invoke phase, Lambda resets the execution environment":
 *   a timed-out or crashed process is killed (SIGKILL) and never used again, the next invocation starts cold;
 * - between invocations Lambda freezes the environment: {@link Container.freeze} does it with SIGSTOP, so the
 *   process's timers really stop, and an invocation thaws it first (SIGCONT). The function timeout is the
 *   emulator's clock, not the child's: a container frozen mid-invocation times out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SQSEvent } from 'aws-lambda';

const CONTAINER_MAIN = fileURLToPath(new URL('./container-main.mjs', import.meta.url));

/** Lambda's limit on the Init phase, ms ("The Init phase is limited to 10 seconds"). */
export const INIT_TIMEOUT_MS = 10_000;

/** A line the function wrote to its stdout or stderr (its logs), without the line break. */
export interface FunctionLogLine {
  containerId: number;
  stream: 'stdout' | 'stderr';
  line: string;
  /** The invocation running when the line was read, if any (lines read after it answered have none). */
  requestId: string | undefined;
}

/** What every container of one function shares. */
export interface ContainerSettings {
  /** The handler module: an ESM file exporting `handler(event, context)`, e.g. the esbuild bundle. */
  handlerPath: string;
  /** The function's whole environment (nothing of the emulator's own environment is added). */
  env: Record<string, string>;
  /** Receives the function's log lines; without one the child's output is discarded unread. */
  logSink: ((line: FunctionLogLine) => void) | undefined;
  /** Init phase limit, ms. @default {@link INIT_TIMEOUT_MS} */
  initTimeoutMs?: number;
}

/** How an invocation ended, as the container saw it. */
export type ContainerAnswer =
  /** The handler returned; `json` is its response as Lambda serialises it (`undefined` is `null`). */
  | { kind: 'returned'; json: string }
  /** The handler threw or rejected: a function error, the process stays warm. */
  | { kind: 'error'; errorType: string; errorMessage: string }
  /** The handler's response could not be serialised to JSON. */
  | { kind: 'unserializable'; errorMessage: string }
  /** No answer within the function timeout: the process was killed. */
  | { kind: 'timeout' }
  /** The process died (exit, signal, kill, failed Init) before it answered. */
  | { kind: 'crash'; detail: string };

type FromContainer =
  | { type: 'ready'; initMs: number }
  | { type: 'init-error'; errorType: string; errorMessage: string }
  | { type: 'result'; requestId: string; json: string }
  | { type: 'error'; requestId: string; errorType: string; errorMessage: string }
  | { type: 'unserializable'; requestId: string; errorMessage: string };

/** One execution environment: a child process. Create it only through the pool (tools/event-source/container-pool.ts). */
export class Container {
  /** The invocation under way, if any: its request ID and the message IDs of its batch. */
  running: { requestId: string; messageIds: readonly string[] } | undefined;
  /** Invocations given to this container so far; 0 until its first (cold) one starts. */
  invocations = 0;
  /** Whether the process is stopped (SIGSTOP) by {@link freeze}. */
  frozen = false;
  /** Resolves once the process has exited (or could not be started). */
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  /** Resolves with undefined once Init is done, or with why the container will never be ready. */
  private readonly ready: Promise<string | undefined>;
  private exitDetail: string | undefined;
  private killReason: string | undefined;

  constructor(
    readonly id: number,
    settings: ContainerSettings,
  ) {
    const output = settings.logSink ? 'pipe' : 'ignore';
    this.child = spawn(process.execPath, [CONTAINER_MAIN, settings.handlerPath], {
      env: settings.env,
      stdio: ['ignore', output, output, 'ipc'],
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitDetail = signal === null ? `exited with code ${code}` : `ended by ${signal}`;
        resolve();
      });
      // A process that cannot be spawned emits 'error' and no 'exit'; kept on, so no later 'error' goes unheard.
      this.child.on('error', (error) => {
        this.exitDetail ??= `could not run: ${error.message}`;
        resolve();
      });
    });
    if (settings.logSink) this.forwardLogs(settings.logSink);
    this.ready = this.init(settings.initTimeoutMs ?? INIT_TIMEOUT_MS);
  }

  /** The process ID (undefined if it could not be spawned). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** False once the process has exited or been killed: a dead container is never invoked again. */
  get alive(): boolean {
    return this.exitDetail === undefined && this.killReason === undefined;
  }

  /**
   * Runs one invocation: waits for Init (a cold container), thaws a frozen one, sends the event and waits for the
   * answer at most `timeoutMs` (then kills the process). Never rejects: every ending is a {@link ContainerAnswer}.
   *
   * @param context the serialisable part of the Lambda context; the child adds `getRemainingTimeInMillis`
   * @param timeoutMs the function timeout, ms: the child's deadline and the emulator's own clock
   */
  async invoke(event: SQSEvent, context: object, requestId: string, timeoutMs: number): Promise<ContainerAnswer> {
    this.running = { requestId, messageIds: event.Records.map((r) => r.messageId) };
    this.invocations += 1;
    try {
      const notReady = await this.ready;
      if (notReady !== undefined) return { kind: 'crash', detail: notReady };
      if (!this.alive) return { kind: 'crash', detail: this.whyDead() };
      if (this.frozen) this.thaw();
      return await this.answer(requestId, timeoutMs, { type: 'invoke', requestId, event, context, timeoutMs });
    } finally {
      this.running = undefined;
    }
  }

  /** Stops the process (SIGSTOP): its timers and sockets stand still until {@link thaw} or the next invocation. */
  freeze(): void {
    if (!this.alive || this.frozen) return;
    this.child.kill('SIGSTOP');
    this.frozen = true;
  }

  /** Resumes a frozen process (SIGCONT). */
  thaw(): void {
    if (!this.alive || !this.frozen) return;
    this.child.kill('SIGCONT');
    this.frozen = false;
  }

  /** Kills the process at once (SIGKILL, which also ends a frozen one); an invocation under way ends as a crash. */
  kill(reason: string): void {
    if (!this.alive) return;
    this.killReason = reason;
    this.child.kill('SIGKILL');
  }

  private whyDead(): string {
    return this.killReason ?? this.exitDetail ?? 'not running';
  }

  private init(timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.kill(`Init did not finish within ${timeoutMs} ms`), timeoutMs);
      const onMessage = (raw: unknown) => {
        const message = raw as FromContainer;
        if (message.type !== 'ready' && message.type !== 'init-error') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(message.type === 'ready' ? undefined : `Init failed: ${message.errorType}: ${message.errorMessage}`);
      };
      this.child.on('message', onMessage);
      void this.exited.then(() => {
        clearTimeout(timer);
        resolve(this.whyDead());
      });
    });
  }

  private answer(requestId: string, timeoutMs: number, invoke: object): Promise<ContainerAnswer> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (answer: ContainerAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(answer);
      };
      const onMessage = (raw: unknown) => {
        const message = raw as FromContainer;
        if (!('requestId' in message) || message.requestId !== requestId) return;
        if (message.type === 'result') settle({ kind: 'returned', json: message.json });
        else if (message.type === 'error')
          settle({ kind: 'error', errorType: message.errorType, errorMessage: message.errorMessage });
        else settle({ kind: 'unserializable', errorMessage: message.errorMessage });
      };
      const timer = setTimeout(() => {
        this.kill(`timed out after ${timeoutMs} ms`);
        settle({ kind: 'timeout' });
      }, timeoutMs);
      this.child.on('message', onMessage);
      void this.exited.then(() => settle({ kind: 'crash', detail: this.whyDead() }));
      // A channel closed under us (the process is dying) shows up as the exit above.
      this.child.send(invoke, (error) => {
        if (error) this.kill(`could not send the event: ${error.message}`);
      });
    });
  }

  private forwardLogs(sink: (line: FunctionLogLine) => void): void {
    const streams = [
      ['stdout', this.child.stdout],
      ['stderr', this.child.stderr],
    ] as const;
    for (const [stream, input] of streams) {
      if (input === null) continue;
      // readline keeps no limit on a line's length, and gives the last line even without a final line break.
      createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        sink({ containerId: this.id, stream, line, requestId: this.running?.requestId }),
      );
    }
  }
}
