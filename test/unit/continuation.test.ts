import { describe, expect, it } from '@jest/globals';
import { planContinuation } from '../../functions/revoke-pats/continuation.js';

const ID = 'to-aaaaa-bbbbb-cccccccccccccccc';
const delivery = { messageId: 'm1', sentAt: Date.now(), senderId: 'AIDAEXAMPLE' };
const delayOf = (delayMs: number) => {
  const plan = planContinuation([ID], {}, {}, delivery, undefined, delayMs, Date.now());
  if (!plan.send) throw new Error(plan.why);
  return plan.delaySeconds;
};

describe('planContinuation: the delay', () => {
  it.each([
    [0, 1],
    [500, 1],
    [1_000, 1],
    [1_999, 1],
    [2_000, 2],
    [5_999.9, 5],
    [59_999, 59],
    [60_000, 60],
    [3_600_000, 900],
  ])('%d ms until the budget has room → %d s (whole seconds rounded down, 1–900)', (delayMs, seconds) => {
    // Rounded down, the continuation comes up to a second early and its invocation waits out the rest; rounded up,
    // every hop of a chain left up to a second of the budget unused (the incident bench, on its ×10 clock: 86.4 % → 93.7 % of ideal).
    expect(delayOf(delayMs)).toBe(seconds);
  });
});
