/**
 * The figures of one incident run (tools/bench/incident-run.ts) against the ideal and the targets of issue 17, and
 * where the rest of the ideal goes, measured in the same run: the start, the steady part, the tail, the budget each
 * window used, how many containers had work, the continuations. Times are given on the real clock (the scaled run's
 * × `--scale`) unless a column says otherwise.
 */
import { percentile } from './figures.js';
import { shareCycles, windowUse } from './incident-analysis.js';
import type { IncidentMeasurements, SandboxHit } from './incident-run.js';

/** The targets: at least this share of the ideal, at most this share of the function's requests refused. */
export const TARGET_PERCENT_OF_IDEAL = 95;
export const TARGET_PERCENT_REFUSED = 1;

/** The headline figures (rates per real minute). */
export interface IncidentFigures {
  tokensPerMinute: number;
  percentOfIdeal: number;
  percentRefused: number;
  refusedToOrganisation: number;
  /** Every token of the incident and of the idle request ended `deactivated`, and the sandbox agrees. */
  allDeactivated: boolean;
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** Seconds on the real clock from ms on the scaled one. */
const realSeconds = (scaledMs: number, scale: number) => round((scaledMs * scale) / 1000);

/** The latest of `times` (epoch ms), or undefined when there is none. */
function latest(times: Array<number | undefined>): number | undefined {
  let last: number | undefined;
  for (const t of times) if (t !== undefined) last = Math.max(last ?? 0, t);
  return last;
}

const refusedShare = (hits: SandboxHit[]) =>
  hits.length === 0 ? 0 : (100 * hits.filter((h) => h.refused).length) / hits.length;

/**
 * The report, and the figures of its last line.
 *
 * @returns the text (every line but the last, which {@link incidentLine} gives) and the figures
 */
export function incidentReport(m: IncidentMeasurements): { text: string; figures: IncidentFigures } {
  const s = m.settings;
  const { scale, budget, containers: k } = s;
  const windowMs = s.windowSeconds * 1000;
  const traces = [...m.tokens.values()];
  // A token is contained when Dfns switched it off (the sandbox's 200 to its PUT) and its audit line says so.
  const done = traces.filter((t) => t.switchedOffAt !== undefined && t.outcome === 'deactivated');
  const idealPerMinute = budget / 3;
  const last = latest(done.map((t) => t.switchedOffAt)) ?? m.t0;
  const lastAudit = latest(done.map((t) => t.deactivatedAt)) ?? m.t0;
  const containMs = last - m.t0;
  const tokensPerMinute = done.length / ((containMs * scale) / 60_000);
  const idealContainS = ((s.tokens * 3) / budget) * 60;
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  const latencies = sorted(done.map((t) => (t.switchedOffAt as number) - t.enqueuedAt));
  const auditLatencies = sorted(done.map((t) => (t.deactivatedAt as number) - t.enqueuedAt));
  const fn = m.incidentRequests.function;
  const fnRefused = fn.filter((h) => h.refused).length;
  const org = m.incidentRequests.organisation;

  // The idle request: one container gets it and holds a static share of budget ÷ k.
  const idleTraces = [...m.idle.tokens.values()];
  const idleEnqueued = idleTraces[0]?.enqueuedAt ?? 0;
  const idleMs = (latest(idleTraces.map((t) => t.switchedOffAt)) ?? idleEnqueued) - idleEnqueued;
  const idleAuditMs = (latest(idleTraces.map((t) => t.deactivatedAt)) ?? idleEnqueued) - idleEnqueued;
  const idleIdealS = ((s.idleTokens * 3) / budget) * 60;
  const idleReal = realSeconds(idleMs, scale);

  const allDeactivated =
    m.settled &&
    m.idle.settled &&
    m.stillActive === 0 &&
    [...traces, ...idleTraces].every((t) => t.outcome === 'deactivated');
  const figures: IncidentFigures = {
    tokensPerMinute: round(tokensPerMinute),
    percentOfIdeal: round((100 * tokensPerMinute) / idealPerMinute),
    percentRefused: round((100 * fnRefused) / Math.max(1, fn.length), 2),
    refusedToOrganisation: m.orgTraffic.throttled,
    allDeactivated,
  };
  const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');

  // Where the rest goes. The steady part: the rate between 10 % and 90 % of the tokens deactivated.
  const times = sorted(done.map((t) => t.switchedOffAt as number));
  const at10 = times[Math.floor(0.1 * times.length)] ?? m.t0;
  const at90 = times[Math.floor(0.9 * times.length)] ?? last;
  const steadyPerMinute = (0.8 * times.length) / (((at90 - at10) * scale) / 60_000);
  const firstRequestMs = (fn[0]?.at ?? m.t0Perf) - m.t0Perf;
  const firstDeactivationMs = (times[0] ?? m.t0) - m.t0;
  const tailMs = last - at90;
  const tailIdealS = ((0.1 * times.length * 3) / budget) * 60;

  // Per window from t0: the function's admitted requests against the budget, each container's tokens.
  const perWindow = windowUse(done, fn, m.t0, m.t0Perf, windowMs, containMs);
  const byContainer = new Map<number, number>();
  for (const t of done) byContainer.set(t.containerId ?? 0, (byContainer.get(t.containerId ?? 0) ?? 0) + 1);
  const ids = [...byContainer.keys()].sort((x, y) => x - y);
  const counts = [...byContainer.values()].sort((x, y) => x - y);
  // A container's share per window (request-budget.ts), used in whole tokens of three requests.
  const shareTokens = Math.floor(Math.max(3, Math.floor((s.scaledRequestsPerMinute * s.windowSeconds) / 60 / k)) / 3);
  const delays = m.continuationDelaysSeconds;
  const meanDelay = delays.length === 0 ? 0 : delays.reduce((x, y) => x + y, 0) / delays.length;
  const busy = perWindow.reduce((sum, w) => sum + w.tokensByContainer.size, 0) / perWindow.length;
  const fullWindows = perWindow.slice(0, -1); // the last window is partial
  const budgetUse =
    fullWindows.length === 0 ? 0 : fullWindows.reduce((sum, w) => sum + w.admitted, 0) / (fullWindows.length * budget);
  const cycles = shareCycles(done, windowMs);

  const lines = [
    `pat-revoker incident bench: ${s.tokens} tokens in requests of ${s.perRequest}, ${k} containers, environment ${s.environment}`,
    `organisation limit ${s.orgLimit} requests/min; the revoker's budget ${budget} (DFNS_REQUESTS_PER_MINUTE); the organisation's own traffic ${s.orgTraffic}`,
    `scale ×${scale}: every rate × ${scale}, the ${60 / scale} s window (sandbox and DFNS_BUDGET_WINDOW_SECONDS) for 60 s; ` +
      `function timeout ${s.functionTimeoutMs} ms, margin ${s.deadlineMarginMs} ms, request timeout ${s.requestTimeoutMs} ms, ` +
      `batching window ${s.batchingWindowMs} ms, visibility ${s.visibilityTimeoutSeconds} s, sandbox latency ${s.latencyMs} ms (scaled clock)`,
    'the world (scaled clock):',
    ...m.describe.split('\n').map((line) => `  ${line}`),
    'not scaled:',
    ...s.unscaled.map((u) => `  - ${u}`),
    'Figures are on the real clock (the run × scale); ratios to the ideal are what matter (shared 2-core machine).',
    'A token counts as deactivated when the sandbox answered its PUT (and its audit line says deactivated); the',
    'function writes a batch’s audit lines when its invocation ends, so the lines come up to one invocation later.',
    '',
    `tokens deactivated                      ${done.length} of ${s.tokens}${m.settled ? '' : '   NOT SETTLED in time'}; still active in the sandbox: ${m.stillActive}`,
    `tokens/min                              ${figures.tokensPerMinute}   ideal ${round(idealPerMinute)} (budget ÷ 3)`,
    `% of ideal                              ${figures.percentOfIdeal} %   target ≥ ${TARGET_PERCENT_OF_IDEAL} %: ${mark(figures.percentOfIdeal >= TARGET_PERCENT_OF_IDEAL)}`,
    `time to contain every token             ${realSeconds(containMs, scale)} s   ideal ${round(idealContainS)} s (tokens × 3 ÷ budget); the last audit line at ${realSeconds(lastAudit - m.t0, scale)} s`,
    `enqueue → deactivated, p50 / p99        ${realSeconds(percentile(latencies, 50), scale)} s / ${realSeconds(percentile(latencies, 99), scale)} s   (→ its audit line: ${realSeconds(percentile(auditLatencies, 50), scale)} s / ${realSeconds(percentile(auditLatencies, 99), scale)} s)`,
    `the function's requests refused (429)   ${fnRefused} of ${fn.length} = ${figures.percentRefused} %   target ≤ ${TARGET_PERCENT_REFUSED} %: ${mark(figures.percentRefused <= TARGET_PERCENT_REFUSED)}`,
    `the organisation's requests refused     ${m.orgTraffic.throttled} of ${m.orgTraffic.sent} (${round(refusedShare(org), 2)} % during the incident)   target 0: ${mark(m.orgTraffic.throttled === 0)}`,
    '',
    `one request of ${s.idleTokens} tokens on the idle deployment:`,
    `  time to contain                       ${idleReal} s   ideal ${round(idleIdealS)} s (${s.idleTokens} × 3 ÷ budget): ${round(idleReal / idleIdealS)}× the ideal; the last audit line at ${realSeconds(idleAuditMs, scale)} s`,
    `  a static share per container          budget ÷ ${k} = ${round(budget / k)} requests/min: ${k} × the ideal = ${round(k * idleIdealS)} s ` +
      `(one container starts ${shareTokens} tokens per window, then waits a window)`,
    `  containers that deactivated its tokens ${m.idle.containers.length} (${m.idle.containers.join(', ')}); its requests refused: ${m.idle.requests.function.filter((h) => h.refused).length} of ${m.idle.requests.function.length}`,
    '',
    'where the rest of the ideal goes (measured in this run):',
    `  start: first request to Dfns ${realSeconds(firstRequestMs, scale)} s after t0, first token deactivated at ${realSeconds(firstDeactivationMs, scale)} s (cold containers, batching window, polling)`,
    `  steady part (10 % → 90 % of the tokens): ${round(steadyPerMinute)} tokens/min = ${round((100 * steadyPerMinute) / idealPerMinute)} % of ideal`,
    `  tail (the last 10 %): ${realSeconds(tailMs, scale)} s, ideal ${round(tailIdealS)} s`,
    `  whole tokens: a share holds ${shareTokens} tokens per window, ${k} × ${shareTokens} × 3 = ${k * shareTokens * 3} of ${budget} requests (${round((100 * k * shareTokens * 3) / budget)} %)`,
    `  budget used in the full windows: ${round(100 * budgetUse)} % of ${budget} requests per window (the function's requests admitted)`,
    `  containers deactivating per window: ${round(busy)} of ${k} on average; tokens per container: fewest ${counts[0] ?? 0}, most ${counts.at(-1) ?? 0} (${counts.length} containers)`,
    `  a busy container's share came back every ${round((cycles.medianPeriodMs * scale) / 1000)} s (median of ${cycles.bursts} bursts; the window is 60 s: ` +
      `${round((100 * (cycles.medianPeriodMs - windowMs)) / windowMs)} % more: the continuation's delay in whole seconds, ` +
      `the batching window when a batch is not full, polling); ${cycles.gaps} time(s) a container had no work for more than 1.5 windows`,
    `  continuations: ${delays.length} sent, delays ${delays.length === 0 ? '-' : `${Math.min(...delays)}–${Math.max(...delays)} s, mean ${round(meanDelay)} s`} (whole seconds, scaled clock: ${round(meanDelay / s.windowSeconds, 2)} windows)`,
    `  invocations ${m.stats.invocations} (${m.stats.coldStarts} cold), outcomes ${JSON.stringify(m.stats.outcomes)}; dead letters ${m.deadLetters}; the function's ERROR lines ${m.functionErrors.length}`,
    ...m.functionErrors.slice(0, 3).map((e) => `    ${e}`),
    '',
    `per window of 60 s from t0 (${s.windowSeconds} s scaled): the function's requests admitted / refused; tokens deactivated by container ${ids.join(', ')}`,
    ...perWindow.map(
      (w, i) =>
        `  ${String(i).padStart(3)}  ${String(w.admitted).padStart(5)} / ${String(w.refused).padEnd(4)} ${ids.map((id) => String(w.tokensByContainer.get(id) ?? 0).padStart(5)).join('')}`,
    ),
    '',
    allDeactivated
      ? 'every token ended deactivated (audit lines and the sandbox agree)'
      : 'NOT EVERY TOKEN ENDED DEACTIVATED: see the counts above',
  ];
  return { text: `${lines.join('\n')}\n`, figures };
}

/** The last line of a run. */
export function incidentLine(f: IncidentFigures): string {
  return `incident: ${f.tokensPerMinute} tokens/min, ${f.percentOfIdeal}% of ideal, ${f.percentRefused}% of its requests refused, ${f.refusedToOrganisation} refused to the organisation`;
}
