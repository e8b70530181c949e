/** Small measures shared by the benchmarks (bench.ts and the incident report). */
import { readFileSync } from 'node:fs';

/** The `p`th percentile of `sorted` (ascending), nearest rank; 0 for no values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The median of `values`, in any order. */
export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** The first of `items`; throws naming `what` when there is none (a run needs at least one). */
export function first<T>(items: readonly T[], what: string): T {
  const [item] = items;
  if (item === undefined) throw new Error(`bench: no ${what}`);
  return item;
}

/** CPU seconds a process has used so far (Linux /proc; undefined elsewhere). */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
    if (fields === undefined) return undefined;
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return undefined;
  }
}
