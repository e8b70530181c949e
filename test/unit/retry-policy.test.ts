import { describe, expect, it } from '@jest/globals';
import {
  decideRetry,
  DEFAULT_RETRY_DELAYS,
  parseRetryAfter,
  type RetryPolicy,
} from '../../functions/revoke-pats/retry-policy.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const policy: RetryPolicy = { maxAttempts: 3, attemptReserveMs: 1_000, ...DEFAULT_RETRY_DELAYS };

describe('parseRetryAfter (RFC 9110 section 10.2.3)', () => {
  it.each([
    ['0', 0],
    ['3', 3000],
    [' 12 ', 12_000],
    ['Sun, 29 Nov 2026 12:00:05 GMT', 5000],
    ['Sun, 29 Nov 2026 11:59:00 GMT', 0], // in the past
  ])('%j → %d ms', (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });

  it.each([undefined, '', '1.5', '-1', 'soon', 'Funday, 99 Nov 2026'])('%j → undefined', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});

describe('decideRetry', () => {
  it('backs off with full jitter: uniform in [0, min(cap, base × 2^(n-1))]', () => {
    expect(decideRetry(policy, 1, undefined, 0.999, NOW, 60_000)).toEqual({ retry: true, delayMs: 199 });
    expect(decideRetry(policy, 2, undefined, 0.5, NOW, 60_000)).toEqual({ retry: true, delayMs: 200 });
    expect(decideRetry(policy, 1, undefined, 0, NOW, 60_000)).toEqual({ retry: true, delayMs: 0 });
    const wide = { ...policy, maxAttempts: 20 };
    expect(decideRetry(wide, 12, undefined, 0.999, NOW, 60_000)).toEqual({ retry: true, delayMs: 4995 }); // capped at maxDelayMs
  });

  it('stops after maxAttempts', () => {
    expect(decideRetry(policy, 3, undefined, 0.5, NOW, 60_000)).toEqual({ retry: false, why: '3 of 3 attempts used' });
  });

  it('honours Retry-After instead of the backoff, raised to a floor (Retry-After: 0 is no hot loop)', () => {
    expect(decideRetry(policy, 1, '2', 0.5, NOW, 60_000)).toEqual({ retry: true, delayMs: 2000 });
    expect(decideRetry(policy, 1, '0', 0.5, NOW, 60_000)).toEqual({ retry: true, delayMs: 100 });
    expect(decideRetry(policy, 1, 'Sun, 29 Nov 2026 12:00:03 GMT', 0.5, NOW, 60_000)).toEqual({
      retry: true,
      delayMs: 3000,
    });
  });

  it('leaves a Retry-After beyond the cap to SQS', () => {
    expect(decideRetry(policy, 1, '3600', 0.5, NOW, 600_000)).toEqual({
      retry: false,
      why: 'Dfns asked to retry after 3600 s: left to SQS redelivery',
    });
  });

  it('does not start a retry that would not finish before the deadline', () => {
    expect(decideRetry(policy, 1, '10', 0.5, NOW, 9_000)).toEqual({
      retry: false,
      why: 'a retry would not finish before the invocation deadline: left to SQS redelivery',
    });
    expect(decideRetry(policy, 1, undefined, 0.5, NOW, 0)).toMatchObject({ retry: false });
    // the wait fits, but then the attempt itself (at least one request timeout) would not
    expect(decideRetry(policy, 1, '19', 0.5, NOW, 19_001)).toMatchObject({ retry: false });
    expect(decideRetry(policy, 1, '19', 0.5, NOW, 20_000)).toEqual({ retry: true, delayMs: 19_000 });
  });

  it('an unreadable Retry-After falls back to the backoff', () => {
    expect(decideRetry(policy, 1, 'later', 0.5, NOW, 60_000)).toEqual({ retry: true, delayMs: 100 });
  });
});
