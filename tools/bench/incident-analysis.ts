/**
 * Where the incident benchmark's rest of the ideal goes, from what the run recorded: per window, the function's
 * requests and each container's tokens; per container, how often its share came back into use. Each container holds a
 * static share of the budget (`DFNS_REQUESTS_PER_MINUTE ÷ k` per window), so the deployment reaches its budget only
 * while every container has work and starts it as soon as its window has room.
 */
import type { SandboxHit, TokenTrace } from './incident-run.js';

/** One window from t0 (aligned to t0, on the scaled clock). */
export interface WindowUse {
  /** The function's requests the sandbox admitted and refused in it. */
  admitted: number;
  refused: number;
  /** Tokens switched off in it, per container ID. */
  tokensByContainer: Map<number, number>;
}

/**
 * The windows from `t0` to the last token switched off.
 *
 * @param t0 epoch ms of the first send; `t0Perf` the same instant in `performance.now()` (the sandbox's clock)
 */
export function windowUse(
  done: TokenTrace[],
  requests: SandboxHit[],
  t0: number,
  t0Perf: number,
  windowMs: number,
  containMs: number,
): WindowUse[] {
  const windows = Math.max(1, Math.ceil(containMs / windowMs));
  const use = Array.from(
    { length: windows },
    (): WindowUse => ({ admitted: 0, refused: 0, tokensByContainer: new Map() }),
  );
  for (const h of requests) {
    const w = use[Math.floor((h.at - t0Perf) / windowMs)];
    if (w && h.refused) w.refused += 1;
    else if (w) w.admitted += 1;
  }
  for (const t of done) {
    const w = use[Math.min(windows - 1, Math.floor(((t.switchedOffAt as number) - t0) / windowMs))];
    const id = t.containerId ?? 0;
    w?.tokensByContainer.set(id, (w.tokensByContainer.get(id) ?? 0) + 1);
  }
  return use;
}

/** How a busy container's share came back into use. */
export interface ShareCycles {
  /** Bursts seen (a container's tokens switched off close together: one use of its share). */
  bursts: number;
  /** Median time from one burst's start to the next one's on the same container, ms (scaled clock). */
  medianPeriodMs: number;
  /** Bursts that began more than 1.5 windows after the container's previous one: it had no work in between. */
  gaps: number;
}

/**
 * The container's share is used in bursts: all it may start in a window goes at once, then it has no room until its
 * oldest reservation leaves the window. The period between bursts shows what the loop adds to the window: the
 * continuation's delay in whole seconds, polling, the batching window, the invocation's start.
 */
export function shareCycles(done: TokenTrace[], windowMs: number): ShareCycles {
  const byContainer = new Map<number, number[]>();
  for (const t of done) {
    const times = byContainer.get(t.containerId ?? 0) ?? [];
    times.push(t.switchedOffAt as number);
    byContainer.set(t.containerId ?? 0, times);
  }
  const periods: number[] = [];
  let bursts = 0;
  let gaps = 0;
  for (const times of byContainer.values()) {
    times.sort((a, b) => a - b);
    let start: number | undefined;
    let previous: number | undefined;
    for (const at of times) {
      // A new burst: a pause of more than a third of a window since the container's previous token.
      if (previous === undefined || at - previous > windowMs / 3) {
        bursts += 1;
        if (start !== undefined) {
          const period = at - start;
          if (period > 1.5 * windowMs) gaps += 1;
          else periods.push(period);
        }
        start = at;
      }
      previous = at;
    }
  }
  periods.sort((a, b) => a - b);
  return { bursts, medianPeriodMs: periods[Math.floor(periods.length / 2)] ?? 0, gaps };
}
