/** The deadline margin of an invocation (CONTRACT section 2: it never takes the whole invocation). */
import { describe, expect, it } from '@jest/globals';
import { deadlineMargin } from '../../functions/revoke-pats/revoke-batch.js';

describe('deadlineMargin', () => {
  it.each([
    // [configured, invocation starts with, margin kept]
    [5_000, 60_000, 5_000], // the usual case: the configured margin
    [5_000, 20_000, 5_000], // exactly 4 × the margin: still the configured one
    [5_000, 8_000, 2_000], // shorter: a quarter of the invocation
    [5_000, 4_000, 1_000], // a quarter equals the smallest margin
    [5_000, 3_000, 1_000], // never under the smallest margin
    [5_000, 900, 1_000], // no time beyond the smallest margin: nothing can start
    [1_000, 2_000, 1_000], // a small configured margin is kept
  ])('DEADLINE_MARGIN_MS %i, an invocation of %i ms: %i ms', (configured, remaining, expected) => {
    expect(deadlineMargin(configured, remaining)).toBe(expected);
  });
});
