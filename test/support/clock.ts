/**
 * A clock whose sleeps return at once and are recorded: retry tests assert the delays the policy asked for and
 * what the sandbox saw, never elapsed wall time.
 */
import type { Clock } from '../../functions/revoke-pats/deactivate-tokens.js';

/** A clock with instant, recorded sleeps. */
export interface InstantClock extends Clock {
  /** Every sleep asked for, in ms, in order. */
  sleeps: number[];
}

export function instantClock(): InstantClock {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => performance.now(),
    epoch: () => Date.now(),
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      if (signal.aborted) throw signal.reason;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

/**
 * A clock whose time stands still but for its sleeps: they return at once, are recorded, and move it forward by
 * what they asked for (one after another: two sleeps side by side add up).
 */
export function virtualClock(): InstantClock {
  const sleeps: number[] = [];
  // Whole milliseconds: sums of whole sleeps stay exact (no float noise in the assertions).
  const start = { now: Math.floor(performance.now()), epoch: Date.now() };
  let offset = 0;
  return {
    sleeps,
    now: () => start.now + offset,
    epoch: () => start.epoch + offset,
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      if (signal.aborted) throw signal.reason;
      // Others run first at the time the sleep began; sleeps are taken one after another, not side by side.
      await new Promise((resolve) => setImmediate(resolve));
      offset += ms;
    },
  };
}
