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
