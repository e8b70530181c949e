/**
 * Progress of long work on stderr: a `cli-progress` bar on a terminal; elsewhere (a log, a pipe) one line per tenth
 * of the work, so a CI log or a ticket shows it without a redraw per step. Nothing with `--quiet`.
 */
import { Presets, SingleBar } from 'cli-progress';
import type { CliIo, Presentation } from './io.js';

/** A progress display. */
export interface Progress {
  /** `done` of the total so far; `total` may change (a move task learns its size). */
  update(done: number, total?: number): void;
  /** Removes the bar (a terminal) and ends the display. */
  stop(): void;
}

/**
 * Starts a display of `total` units named `unit` (e.g. "token IDs queued").
 *
 * @param total the work, in units (0 when not known yet)
 */
export function startProgress(io: CliIo, presentation: Presentation, total: number, unit: string): Progress {
  if (presentation.quiet) return { update: () => undefined, stop: () => undefined };
  const started = Date.now();
  const rate = (done: number) => {
    const seconds = (Date.now() - started) / 1000;
    return seconds > 0 ? (done / seconds).toFixed(1) : '0';
  };
  if (io.progressStream) {
    const bar = new SingleBar(
      {
        stream: io.progressStream,
        format: `{bar} {value}/{total} ${unit}, {rate}/s, {duration_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0' });
    return {
      update: (done, newTotal) => {
        if (newTotal !== undefined) bar.setTotal(newTotal);
        bar.update(done, { rate: rate(done) });
      },
      stop: () => bar.stop(),
    };
  }
  let size = total;
  let shownTenths = 0;
  return {
    update: (done, newTotal) => {
      if (newTotal !== undefined) size = newTotal;
      const tenths = size > 0 ? Math.floor((done / size) * 10) : 0;
      if (tenths > shownTenths) {
        shownTenths = tenths;
        io.stderr(`${done}/${size} ${unit} (${Math.floor((done / size) * 100)} %), ${rate(done)}/s\n`);
      }
    },
    stop: () => undefined,
  };
}
