/** The no-budget-twice memory stays bounded, forgetting the oldest requests first. */
import { describe, expect, it } from '@jest/globals';
import { FinishedTokens } from '../../functions/revoke-pats/finished-tokens.js';

const at = { at: '2026-12-03T00:00:00.000Z', messageId: 'm' };

describe('FinishedTokens', () => {
  it('remembers per request: another request never sees a token as finished', () => {
    const memory = new FinishedTokens();
    memory.remember('r1', 'to-a', at);
    expect(memory.get('r1', 'to-a')).toEqual(at);
    expect(memory.get('r2', 'to-a')).toBeUndefined();
  });

  it('forgets the oldest requests first, then the oldest tokens of a request larger than the bound', () => {
    const memory = new FinishedTokens(3);
    memory.remember('old', 'to-1', at);
    memory.remember('old', 'to-2', at);
    memory.remember('new', 'to-3', at);
    memory.remember('new', 'to-4', at);
    expect(memory.get('old', 'to-1')).toBeUndefined(); // the whole oldest request went
    for (let i = 5; i < 20; i++) memory.remember('new', `to-${i}`, at);
    const kept = Array.from({ length: 20 }, (_, i) => memory.get('new', `to-${i}`)).filter(Boolean);
    expect(kept).toHaveLength(3);
    expect(memory.get('new', 'to-19')).toEqual(at); // the newest stay
  });
});
