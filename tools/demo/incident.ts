/**
 * `npm start`: the whole loop on one machine (tools/world), with a short scripted incident driven through the
 * operator CLI as a process, exactly as an operator would type it: two requests enqueued, one naming a token Dfns
 * does not know. It waits until every token has its outcome (the function's audit lines, the sandbox and the
 * queues), prints the per-token table, the dead letters and what moved, and says whether the outcomes are the
 * script's.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ReceivedMessage } from '../aws/sqs.js';
import { newTokenId } from '../sandbox/ids.js';
import { startLoopbackWorld, type LoopbackWorld } from '../world/loopback-world.js';

const CLI_MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
/** How long the incident may take before it is called stuck, ms. */
const INCIDENT_DEADLINE_MS = 45_000;

/** One row of the table: a token, the outcome the script expects, what the function reported, the sandbox's state. */
export interface IncidentRow {
  tokenId: string;
  expected: string;
  outcome: string | undefined;
  isActiveAfter: boolean | 'unknown';
}

/** What the incident did. */
export interface IncidentResult {
  rows: IncidentRow[];
  deadLetters: ReceivedMessage[];
  /** Every outcome is the script's. */
  asScripted: boolean;
}

/**
 * Runs the CLI as a process with the world's environment.
 *
 * @returns its exit code and output
 */
export async function runCliProcess(
  world: LoopbackWorld,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, ...argv], {
    env: { ...world.cliEnv, PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

/**
 * The scripted incident in a running world.
 *
 * @param write where the report goes
 * @throws when the CLI refuses a request or the incident does not settle within 45 s
 */
export async function runIncident(
  world: LoopbackWorld,
  outcomes: Map<string, string>,
  write: (text: string) => void,
): Promise<IncidentResult> {
  const known = world.sandbox.seedPats(5);
  const unknown = newTokenId();
  const script = new Map<string, string>([...known.map((t) => [t, 'deactivated'] as const), [unknown, 'not_found']]);
  const requests = [
    ['--incident', 'INC-DEMO-1', '--reason', 'PATs in a public repository', ...known.slice(0, 3)],
    ['--incident', 'INC-DEMO-2', '--reason', 'SIEM: PAT used from an unknown ASN', ...known.slice(3), unknown],
  ];
  for (const args of requests) {
    const { code, stdout, stderr } = await runCliProcess(world, ['enqueue', '--queue-url', world.queueUrl, ...args]);
    write(`$ pat-revoker enqueue ${args.join(' ')}\n${stdout}${stderr}`);
    if (code !== 0) throw new Error(`the CLI refused a request of the script (exit ${code})`);
  }
  const deadline = performance.now() + INCIDENT_DEADLINE_MS;
  for (;;) {
    const depth = await world.sqs.depth(world.queueUrl);
    const dead = await world.sqs.depth(world.deadLetterQueueUrl);
    const settled =
      [...script.keys()].every((t) => outcomes.has(t)) &&
      depth.visible + depth.inFlight + depth.delayed === 0 &&
      dead.visible >= 1;
    if (settled) break;
    if (performance.now() > deadline) throw new Error('the incident did not settle within 45 s');
    await sleep(200);
  }
  await world.eventSource.idle();
  const deadLetters = await world.sqs.drainDeadLetters();
  const rows = [...script].map(([tokenId, expected]) => ({
    tokenId,
    expected,
    outcome: outcomes.get(tokenId),
    isActiveAfter: known.includes(tokenId)
      ? (world.sandbox.isActive(tokenId) ?? ('unknown' as const))
      : ('unknown' as const),
  }));
  return { rows, deadLetters, asScripted: rows.every((r) => r.outcome === r.expected) };
}

/** The report of an incident: the table, the dead letters, what moved. */
export function report(world: LoopbackWorld, result: IncidentResult): string {
  const stats = world.eventSource.stats();
  const lines = [
    '',
    'token                            expected      outcome       active after',
    ...result.rows.map(
      (r) =>
        `${r.tokenId.padEnd(33)}${r.expected.padEnd(14)}${(r.outcome ?? '(none)').padEnd(14)}${String(r.isActiveAfter)}${r.outcome === r.expected ? '' : '   <- differs'}`,
    ),
    '',
    `dead-letter queue: ${result.deadLetters.length} message(s)`,
    ...result.deadLetters.map((m) => `  ${JSON.stringify(m.body)}  attributes ${JSON.stringify(m.attributes)}`),
    '',
    `what moved: ${stats.receivedMessages} record(s) received in ${stats.invocations} invocation(s) (${stats.coldStarts} cold), ${stats.deletedMessages} deleted from the request queue, ${result.deadLetters.length} dead-lettered by the function`,
    result.asScripted ? 'every outcome is the script’s' : 'SOME OUTCOMES DIFFER FROM THE SCRIPT',
    '',
  ];
  return lines.join('\n');
}

/**
 * Starts a world whose audit lines fill `outcomes` (token ID → its last outcome).
 *
 * @param onOutcome also told of each outcome, with its detail (the served world prints them)
 */
export function startIncidentWorld(
  outcomes: Map<string, string>,
  onOutcome?: (entry: { tokenId: string; outcome: string; detail?: string; incidentId?: string }) => void,
): Promise<LoopbackWorld> {
  // Staging's settings (a budget of 150 requests per minute) on two containers: dev's share of a Trial organisation
  // (30 per minute) would continue part of this incident a minute later, as it would in dev.
  return startLoopbackWorld({
    environment: 'staging',
    containers: 2,
    logSink: ({ line }) => {
      if (!line.includes('"message":"revocation"')) return;
      try {
        const entry = JSON.parse(line) as {
          tokenId?: unknown;
          outcome?: unknown;
          detail?: string;
          incidentId?: string;
        };
        const { tokenId, outcome, detail, incidentId } = entry;
        if (typeof tokenId === 'string' && typeof outcome === 'string') {
          outcomes.set(tokenId, outcome);
          onOutcome?.({
            tokenId,
            outcome,
            ...(detail === undefined ? {} : { detail }),
            ...(incidentId === undefined ? {} : { incidentId }),
          });
        }
      } catch {
        // not one JSON line: not an audit line
      }
    },
  });
}
