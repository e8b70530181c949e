/**
 * One container's share of the Dfns request budget (CONTRACT section 8), on a virtual clock: the assertions are the
 * waits the budget asked for, never elapsed time.
 */
import { describe, expect, it } from '@jest/globals';
import {
  FIRST_THROTTLE_PAUSE_MS,
  MAX_THROTTLE_PAUSE_MS,
  SlidingWindowBudget,
} from '../../functions/revoke-pats/request-budget.js';
import { virtualClock, type InstantClock } from '../support/clock.js';

const never = new AbortController().signal;
const MINUTE = 60_000;

function budget(requestsPerMinute: number, maxConcurrency = 1, windowMs = MINUTE) {
  const clock = virtualClock();
  return { clock, budget: new SlidingWindowBudget({ requestsPerMinute, maxConcurrency, windowMs }, clock) };
}

/** Reserves one token's flow `count` times in order; resolves with the grants and the clock at each grant. */
async function reserveTokens(b: SlidingWindowBudget, clock: InstantClock, count: number, notAfter = Infinity) {
  const start = clock.now();
  const out: Array<{ granted: boolean; atMs: number }> = [];
  await Promise.all(
    Array.from({ length: count }, async () => {
      const granted = await b.reserve(3, start + notAfter, never);
      out.push({ granted, atMs: Math.round(clock.now() - start) });
    }),
  );
  return out;
}

describe('the share', () => {
  it.each([
    [600, 1, MINUTE, 600],
    [600, 8, MINUTE, 75],
    [1000, 3, MINUTE, 333],
    [600, 1, 1_000, 10], // a rehearsal's one-second window: the share scaled to it
    [600, 50, 1_000, 3], // never under one token's flow
  ])('%i requests per minute over %i containers and a %i ms window: %i per window', (rpm, c, w, share) => {
    expect(budget(rpm, c, w).budget.share).toBe(share);
  });
});

describe('reservations', () => {
  it('a small incident goes at once: 10 tokens on a quiet deployment wait for nothing', async () => {
    const { budget: b, clock } = budget(600);
    const grants = await reserveTokens(b, clock, 10);
    expect(grants.every((g) => g.granted && g.atMs === 0)).toBe(true);
    expect(clock.sleeps).toEqual([]);
    expect(b.takeWaitedMs()).toBeLessThan(5);
  });

  it('a large one uses the whole share, then waits exactly until reservations leave the window, in order', async () => {
    const { budget: b, clock } = budget(30); // 10 tokens per minute
    const grants = await reserveTokens(b, clock, 25);
    expect(grants.map((g) => g.atMs)).toEqual([
      ...Array(10).fill(0),
      ...Array(10).fill(MINUTE),
      ...Array(5).fill(2 * MINUTE),
    ]);
    // Held back twice for a window: the time the budget kept reservations waiting, not once per queued token.
    expect(b.takeWaitedMs()).toBeCloseTo(2 * MINUTE, -1);
    expect(b.takeWaitedMs()).toBe(0); // taking it resets it
  });

  it('refuses at once, reserving nothing, when room comes only after the deadline', async () => {
    const { budget: b, clock } = budget(30);
    await reserveTokens(b, clock, 10);
    const start = clock.now();
    expect(await b.reserve(3, start + MINUTE - 1, never)).toBe(false);
    expect(clock.now()).toBe(start); // not waited for
    expect(b.nextRoom(3)).toBeCloseTo(start + MINUTE, -1);
    expect(await b.reserve(3, start + MINUTE + 10, never)).toBe(true); // the slot was not taken by the refusal
  });

  it('an aborted wait reserves nothing', async () => {
    const { budget: b, clock } = budget(30);
    await reserveTokens(b, clock, 10);
    const abort = new AbortController();
    abort.abort();
    expect(await b.reserve(3, Infinity, abort.signal)).toBe(false);
    expect(b.nextRoom(3)).toBeGreaterThan(clock.now());
  });
});

describe('a 429 speaks for the whole organisation', () => {
  it('pauses everything for Retry-After however long, then half the share for a window, then all of it', async () => {
    const { budget: b, clock } = budget(60); // 20 tokens per minute
    const start = clock.now();
    expect(b.throttled(45_000)).toBe(45_000);
    expect(await b.whenUnpaused(Infinity, never)).toBe(true);
    expect(clock.now() - start).toBeCloseTo(45_000, -1);
    const grants = await reserveTokens(b, clock, 20);
    // Half the share (30 requests: 10 tokens) in the window after the pause, the rest once it has passed.
    const after = grants.map((g) => g.atMs);
    expect(after.filter((ms) => ms === 0)).toHaveLength(10);
    expect(Math.min(...after.filter((ms) => ms > 0))).toBeGreaterThanOrEqual(MINUTE);
  });

  it('each further 429 after a pause halves the share again, down to an eighth; a quiet window restores it', async () => {
    const { budget: b, clock } = budget(600); // 200 tokens per minute
    for (let i = 0; i < 5; i++) {
      b.throttled(1_000);
      b.throttled(1_000); // in flight before the pause: no new evidence, no further cut
      await b.whenUnpaused(Infinity, never);
    }
    // An eighth, not a thirty-second: 75 requests, 25 tokens.
    const grants = await reserveTokens(b, clock, 30, MINUTE - 1);
    expect(grants.filter((g) => g.granted)).toHaveLength(25);
    await clock.sleep(2 * MINUTE, never);
    expect((await reserveTokens(b, clock, 200)).every((g) => g.granted && g.atMs === 0)).toBe(true);
  });

  it('without Retry-After: a pause that doubles from 1 s, back to 1 s after a window without a 429', async () => {
    const { budget: b, clock } = budget(600);
    const pauses: number[] = [];
    for (let i = 0; i < 3; i++) {
      pauses.push(b.throttled(undefined));
      await b.whenUnpaused(Infinity, never); // the next 429 answers a request sent after the pause
    }
    expect(pauses).toEqual([1_000, 2_000, 4_000]);
    await clock.sleep(MINUTE + 1, never);
    expect(b.throttled(undefined)).toBe(FIRST_THROTTLE_PAUSE_MS);
  });

  it('one burst of 429s (every flow in flight meets the limit at once) is one pause, not one per 429', async () => {
    const { budget: b, clock } = budget(600);
    const start = clock.now();
    const pauses = Array.from({ length: 8 }, () => b.throttled(undefined));
    expect(pauses[0]).toBe(1_000);
    expect(b.nextRoom(3) - start).toBe(1_000);
    // and the share was cut once: half of it after the pause
    await b.whenUnpaused(Infinity, never);
    const grants = await reserveTokens(b, clock, 101, MINUTE - 1);
    expect(grants.filter((g) => g.granted)).toHaveLength(100);
  });

  it('honours a Retry-After of at most 15 minutes, and does not wait for a pause past the deadline', async () => {
    const { budget: b, clock } = budget(600);
    const start = clock.now();
    expect(b.throttled(86_400_000)).toBe(MAX_THROTTLE_PAUSE_MS);
    expect(await b.whenUnpaused(start + 60_000, never)).toBe(false);
    expect(clock.now()).toBe(start); // given up at once
    expect(await b.reserve(3, start + 60_000, never)).toBe(false);
    expect(b.nextRoom(3) - start).toBeCloseTo(MAX_THROTTLE_PAUSE_MS, 3);
  });

  it('a reservation waiting for room also waits out a pause that starts meanwhile', async () => {
    const { budget: b, clock } = budget(600);
    const start = clock.now();
    b.throttled(10_000);
    expect(await b.reserve(3, Infinity, never)).toBe(true);
    expect(clock.now() - start).toBeGreaterThanOrEqual(10_000);
    expect(await b.reserve(3, clock.now() + 5_000, never)).toBe(true); // half of 600 is still room
  });
});
