/**
 * The one output cap: lines within MAX_LINE_BYTES whatever is logged, lists shown to MAX_LISTED_VALUES and counted,
 * through the function's real Powertools loggers.
 */
import { describe, expect, it } from '@jest/globals';
import { capLine, listed, MAX_LINE_BYTES, MAX_LISTED_VALUES, notShownMarker } from '../../functions/lib/output-cap.js';
import { createTelemetry } from '../../functions/revoke-pats/audit.js';
import { captureOutput } from '../support/stdout.js';

const bytes = (value: unknown) => Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value));

describe('listed', () => {
  it('shows the first 20 and counts the rest', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => i);
    expect(listed(values)).toEqual({ shown: values.slice(0, MAX_LISTED_VALUES), notShown: 9_980 });
    expect(listed([1, 2])).toEqual({ shown: [1, 2], notShown: 0 });
    expect(notShownMarker(9_980)).toBe('…[9980 more not shown]');
  });
});

describe('capLine', () => {
  it('returns a line within bounds as it is (no copy)', () => {
    const line = { level: 'INFO', message: 'revocation', tokenId: 'to-x', list: [1, 2, 3] };
    expect(capLine(line)).toBe(line);
  });

  it.each([
    ['ASCII', 'x'],
    ['three-byte characters', '€'],
    ['four-byte characters', '𝄞'],
    ['control characters (six bytes each in JSON)', '\u0001'],
  ])('cuts the largest strings of %s until the line fits, never inside a character', (_name, unit) => {
    const line = {
      level: 'WARN',
      message: 'big',
      small: 'kept whole',
      huge: unit.repeat(200_000),
      other: unit.repeat(40_000),
    };
    const capped = capLine(line);
    expect(bytes(capped)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(bytes(capped)).toBeGreaterThan(MAX_LINE_BYTES - 4096); // cut to the cap, not far below it
    expect(capped).toMatchObject({ level: 'WARN', message: 'big', small: 'kept whole' });
    expect(capped.huge).toMatch(/…\[cut \d+ bytes\]$/);
    expect(String(capped.huge)).not.toContain('\uFFFD');
    expect(line.huge).toHaveLength(200_000 * unit.length); // the caller's object is untouched
  });

  it('shows 20 items of every long list, nested ones included, and counts the rest', () => {
    const capped = capLine({
      warnings: Array.from({ length: 50 }, (_, i) => `w${i}`),
      nested: { ids: Array(25).fill('a') },
    });
    expect(capped.warnings).toEqual([...Array.from({ length: 20 }, (_, i) => `w${i}`), '…[30 more not shown]']);
    expect((capped.nested as { ids: string[] }).ids).toEqual([...Array(20).fill('a'), '…[5 more not shown]']);
  });

  it('describes errors with the one formatter and survives cycles and bigints', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const capped = capLine({ error: new Error('boom', { cause: new Error('inner') }), cyclic, big: 10n });
    expect(capped).toEqual({
      error: 'Error: boom ← caused by Error: inner',
      cyclic: { name: 'loop', self: '[circular]' },
      big: '10',
    });
  });

  it('cuts hundreds of medium strings to one limit rather than dropping them', () => {
    const line = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, 'x'.repeat(300)]));
    const capped = capLine(line);
    expect(bytes(capped)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(Object.keys(capped)).toHaveLength(300);
    expect(capped.f299).toMatch(/^x+…\[cut \d+ bytes\]$/);
  });

  it('keeps only the essential fields, and says so, when thousands of small fields are over the cap', () => {
    const line: Record<string, unknown> = { level: 'ERROR', message: 'many', timestamp: 't', service: 's' };
    for (let i = 0; i < 20_000; i++) line[`field${i}`] = `value ${i}`;
    const capped = capLine(line);
    expect(bytes(capped)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(capped).toEqual({
      level: 'ERROR',
      message: 'many',
      timestamp: 't',
      service: 's',
      lineCut: expect.stringMatching(/^\d+ bytes of fields over the 65536-byte line cap: fields not shown$/),
    });
  });
});

describe('the function loggers print through the cap', () => {
  it('diagnostic and audit lines alike', () => {
    const telemetry = createTelemetry({ serviceName: 'pat-revoker', metricsNamespace: 'PatRevoker' });
    const output = captureOutput();
    try {
      telemetry.logger.warn('request fields ignored or cut', {
        warnings: Array.from({ length: 10_000 }, (_, i) => `field${i} ignored`),
        page: `<html>${'x'.repeat(1_000_000)}`,
      });
      telemetry.audit.info('revocation', { tokenId: 'to-x', outcome: 'invalid', detail: '€'.repeat(100_000) });
    } finally {
      output.stop();
    }
    const lines = output.text().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    const [warn, audit] = output.json();
    expect(warn).toMatchObject({ level: 'WARN', service: 'pat-revoker', message: 'request fields ignored or cut' });
    expect(warn!.warnings).toHaveLength(21);
    expect(warn!.warnings[20]).toBe('…[9980 more not shown]');
    expect(audit).toMatchObject({ level: 'INFO', message: 'revocation', tokenId: 'to-x', outcome: 'invalid' });
    expect(audit!.detail).toMatch(/^€+…\[cut \d+ bytes\]$/);
  });
});
