/**
 * One run of the incident benchmark: the loop on one machine (tools/world) with k containers against the sandbox
 * enforcing the organisation's limit, the organisation's own traffic beside it (tools/sandbox/org-traffic.ts), an
 * incident enqueued at once, then one small request on the idle deployment. It only measures; the figures and the
 * report are tools/bench/incident-report.ts.
 *
 * Each token's outcome and time come from the function's own audit lines (the world's log sink), as an operator
 * would read them; the sandbox's state confirms them, and its request log tells the function's requests (init,
 * action, PUT) from the organisation's (reads).
 */
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventSourceStats, InvocationRecord } from '../event-source/event-source-mapping.js';
import { startOrgTraffic } from '../sandbox/org-traffic.js';
import { startLoopbackWorld, type LoopbackWorld } from '../world/loopback-world.js';
import type { IncidentSettings } from './incident-options.js';

/** What the audit lines say of one token. Times are epoch ms (the audit line's `timestamp`). */
export interface TokenTrace {
  /** When the SendMessageBatch holding its request returned. */
  enqueuedAt: number;
  /** When the sandbox answered its PUT …/deactivate with 200: when it was switched off. */
  switchedOffAt?: number;
  /**
   * Its first `deactivated` audit line. The function writes a batch's lines when the invocation ends, so this is when
   * the operator can know, up to one invocation after the token was switched off.
   */
  deactivatedAt?: number;
  /** The container that deactivated it. */
  containerId?: number;
  /** Its last outcome other than `continued`. */
  outcome?: string;
  /** How many times it was `continued` (a continuation carried it). */
  continued: number;
}

/** One request to the sandbox: when it arrived (ms of `performance.now()`, the sandbox runs in this process). */
export interface SandboxHit {
  at: number;
  refused: boolean;
}

/** The requests of one phase, the function's and the organisation's apart. */
export interface PhaseRequests {
  function: SandboxHit[];
  organisation: SandboxHit[];
}

/** Everything one run measured. */
export interface IncidentMeasurements {
  settings: IncidentSettings;
  /** The world's settings in force, as it states them. */
  describe: string;
  /** Epoch ms and `performance.now()` of the incident's first send. */
  t0: number;
  t0Perf: number;
  /** The incident's tokens; `settled` once each has an outcome and the queue is empty. */
  tokens: Map<string, TokenTrace>;
  settled: boolean;
  /** Tokens the sandbox still holds active at the end. */
  stillActive: number;
  incidentRequests: PhaseRequests;
  /** `delayed N s` of each continuation the function sent during the incident. */
  continuationDelaysSeconds: number[];
  invocations: readonly InvocationRecord[];
  stats: EventSourceStats;
  /** The one request on the idle deployment. */
  idle: { tokens: Map<string, TokenTrace>; settled: boolean; requests: PhaseRequests; containers: number[] };
  /** The organisation's own tally over the whole run: requests sent, 429s, other failures. */
  orgTraffic: { sent: number; throttled: number; failed: number };
  /** The function's `ERROR` lines (a problem it reports), and dead letters left in the DLQ. */
  functionErrors: string[];
  deadLetters: number;
}

/** The outcome of an audit line, when the line is one. */
interface AuditLine {
  tokenId: string;
  outcome: string;
  timestamp: string;
  detail?: string;
}

function auditLine(line: string): AuditLine | undefined {
  if (!line.includes('"message":"revocation"')) return undefined;
  try {
    const entry = JSON.parse(line) as Partial<AuditLine>;
    if (typeof entry.tokenId !== 'string' || typeof entry.outcome !== 'string') return undefined;
    return entry as AuditLine;
  } catch {
    return undefined; // not one JSON line: not an audit line
  }
}

/** Sends `tokens` as requests of `perRequest` IDs, ten to a SendMessageBatch; records when each returned. */
async function enqueue(world: LoopbackWorld, tokens: string[], perRequest: number, traces: Map<string, TokenTrace>) {
  const bodies: string[][] = [];
  for (let i = 0; i < tokens.length; i += perRequest) bodies.push(tokens.slice(i, i + perRequest));
  for (let i = 0; i < bodies.length; i += 10) {
    const group = bodies.slice(i, i + 10);
    const { Failed = [] } = await world.sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: world.queueUrl,
        Entries: group.map((tokenIds, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify({ tokenIds, incidentId: 'INC-BENCH', reason: 'incident benchmark' }),
        })),
      }),
    );
    if (Failed.length > 0)
      throw new Error(`SendMessageBatch refused ${Failed.length} request(s): ${Failed[0]?.Message}`);
    const at = Date.now();
    for (const tokenId of group.flat()) traces.set(tokenId, { enqueuedAt: at, continued: 0 });
  }
}

/** Waits until every token has an outcome and the request queue is empty, or `ms` pass. @returns whether it did */
async function settle(world: LoopbackWorld, traces: Map<string, TokenTrace>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if ([...traces.values()].every((t) => t.outcome !== undefined)) {
      const depth = await world.sqs.depth(world.queueUrl);
      if (depth.visible + depth.inFlight + depth.delayed === 0) {
        await world.eventSource.idle();
        return true;
      }
    }
    await sleep(100);
  }
  return false;
}

/** The sandbox's requests from `from` to `to` (ms of `performance.now()`), the function's and the organisation's. */
function requestsBetween(world: LoopbackWorld, from: number, to: number): PhaseRequests {
  const phase: PhaseRequests = { function: [], organisation: [] };
  for (const r of world.sandbox.requests) {
    if (r.at < from || r.at >= to) continue;
    // The function sends init, action and the PUT, never a GET; the organisation's traffic only reads.
    (r.route === 'get' ? phase.organisation : phase.function).push({ at: r.at, refused: r.throttled === true });
  }
  return phase;
}

const DEACTIVATE_PATH = /^\/auth\/pats\/([^/?]+)\/deactivate/;

/** Sets `switchedOffAt` of each token from the sandbox's successful PUTs (`clock`: epoch ms of a `performance.now()`). */
function markSwitchedOff(
  world: LoopbackWorld,
  traces: Map<string, TokenTrace>,
  clock: (at: number) => number,
  latencyMs: number,
): void {
  for (const r of world.sandbox.requests) {
    if (r.route !== 'deactivate' || r.status !== 200) continue;
    const trace = traces.get(decodeURIComponent(DEACTIVATE_PATH.exec(r.path)?.[1] ?? ''));
    // The request is recorded on arrival; the sandbox answers after its latency.
    if (trace && trace.switchedOffAt === undefined) trace.switchedOffAt = clock(r.at + latencyMs);
  }
}

/**
 * Runs the incident and the idle request.
 *
 * @param say progress, to stderr
 * @throws when the world cannot start or a send is refused
 */
export async function measureIncident(
  settings: IncidentSettings,
  say: (text: string) => void,
): Promise<IncidentMeasurements> {
  const traces = new Map<string, TokenTrace>();
  const functionErrors: string[] = [];
  const continuationDelays = new Map<string, number>();
  // The phase whose tokens the audit lines fill: the incident's, then the idle request's.
  let current = traces;
  const world = await startLoopbackWorld({
    environment: settings.environment,
    containers: settings.containers,
    requestsPerMinute: settings.scaledRequestsPerMinute,
    rateLimit: { requests: settings.orgLimit, windowSeconds: settings.windowSeconds },
    functionTimeoutMs: settings.functionTimeoutMs,
    visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
    batchingWindowMs: settings.batchingWindowMs,
    env: settings.functionEnv,
    logSink: ({ line, containerId }) => {
      if (line.includes('"level":"ERROR"')) functionErrors.push(line.slice(0, 300));
      const entry = auditLine(line);
      const trace = entry && current.get(entry.tokenId);
      if (!entry || !trace) return;
      if (entry.outcome === 'continued') {
        trace.continued += 1;
        // Every token of a continuation has a line naming its message: one delay per message.
        const sent = /continued in message (\S+), delayed (\d+) s/.exec(entry.detail ?? '');
        if (current === traces && sent) continuationDelays.set(sent[1] as string, Number(sent[2]));
        return;
      }
      trace.outcome = entry.outcome;
      if (entry.outcome === 'deactivated' && trace.deactivatedAt === undefined) {
        trace.deactivatedAt = Date.parse(entry.timestamp);
        trace.containerId = containerId;
      }
    },
  });
  // Interrupted (Ctrl-C, kill, a test's timeout): `finally` does not run on a signal, so stop the containers (processes
  // of their own) and remove the bundle here, then exit as the signal would have.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => void world.close().finally(() => process.exit(code)));
  }
  world.sandbox.latencyMs = settings.latencyMs;
  const windowMs = settings.windowSeconds * 1000;
  // The organisation's traffic runs from before the incident to the end: the window it fills is there at t0.
  const org =
    settings.orgTraffic > 0
      ? startOrgTraffic(world.sandbox, { requestsPerWindow: settings.orgTraffic, windowMs })
      : undefined;
  try {
    const tokens = world.sandbox.seedPats(settings.tokens);
    const idleTokens = world.sandbox.seedPats(settings.idleTokens);
    await sleep(windowMs);

    say(`incident: ${settings.tokens} tokens in requests of ${settings.perRequest}, enqueued at once ...`);
    const t0 = Date.now();
    const t0Perf = performance.now();
    await enqueue(world, tokens, settings.perRequest, traces);
    const idealMs = ((settings.tokens * 3) / settings.scaledRequestsPerMinute) * 60_000;
    const settled = await settle(world, traces, Math.max(120_000, 6 * idealMs));
    const incidentEnd = performance.now();

    // Idle: no request in flight and every container's log older than a window, as after a quiet minute.
    say('one request on the idle deployment ...');
    await sleep(windowMs + 1000);
    const idle = new Map<string, TokenTrace>();
    current = idle;
    const idleStart = performance.now();
    await enqueue(world, idleTokens, 100, idle);
    const idleIdealMs = ((settings.idleTokens * 3) / settings.scaledRequestsPerMinute) * 60_000;
    const idleSettled = await settle(world, idle, Math.max(60_000, 3 * settings.containers * idleIdealMs));
    const idleEnd = performance.now();
    await org?.stop();

    const epoch = (at: number) => t0 + (at - t0Perf);
    markSwitchedOff(world, traces, epoch, settings.latencyMs);
    markSwitchedOff(world, idle, epoch, settings.latencyMs);
    const stillActive = [...tokens, ...idleTokens].filter((t) => world.sandbox.isActive(t) !== false).length;
    const deadLetters = (await world.sqs.drainDeadLetters()).length;
    return {
      settings,
      describe: world.describe(),
      t0,
      t0Perf,
      tokens: traces,
      settled,
      stillActive,
      incidentRequests: requestsBetween(world, t0Perf, incidentEnd),
      continuationDelaysSeconds: [...continuationDelays.values()],
      invocations: [...world.eventSource.invocations()],
      stats: world.eventSource.stats(),
      idle: {
        tokens: idle,
        settled: idleSettled,
        requests: requestsBetween(world, idleStart, idleEnd),
        containers: [
          ...new Set([...idle.values()].flatMap((t) => (t.containerId === undefined ? [] : [t.containerId]))),
        ],
      },
      orgTraffic: { sent: org?.sent ?? 0, throttled: org?.throttled ?? 0, failed: org?.failed ?? 0 },
      functionErrors,
      deadLetters,
    };
  } finally {
    await org?.stop();
    await world.close();
  }
}
