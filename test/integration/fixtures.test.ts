/**
 * Realistic request samples (test/fixtures/requests/*.json: playbook JSON, SIEM alerts via SNS and EventBridge,
 * plain text, base64, dry run, protected tokens, bad input) with the expected outcome of each, driven through the
 * real handler by one table. Placeholders like {{A}} become fresh token IDs: `active`, `inactive`, `unknown` to
 * Dfns, or `protected` (listed in PROTECTED_TOKEN_IDS).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { newTokenId } from '../../tools/sandbox/ids.js';
import type { Captured } from '../support/stdout.js';
import { useWorld, type World } from '../support/world.js';

interface Fixture {
  description: string;
  tokens: Record<string, 'active' | 'inactive' | 'unknown' | 'protected'>;
  body: unknown;
  attributes?: Record<string, string>;
  /** Send the (substituted) body base64-encoded. */
  base64?: boolean;
  /** `"{{GENERATED}}"` in the body becomes this many distinct (unknown) token IDs. */
  generate?: { tokenIds: number };
  expect: {
    source: string;
    /** By placeholder name, or by the raw value as JSON text for invalid entries (`null`: the body itself). */
    outcomes: Record<string, string>;
    /** Placeholders whose PAT must still be active afterwards. */
    active?: string[];
    deadLetter: { outcome: string; tokenIds: string[] } | null;
    /** A text every audit detail must contain. */
    detailMatches?: string;
  };
}

const dir = new URL('../fixtures/requests/', import.meta.url);
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => [file, JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Fixture] as const);

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

describe('request fixtures through the real handler', () => {
  it('covers every format and the bad-input classes', () => {
    expect(new Set(fixtures.map(([, f]) => f.expect.source.split('+')[0]))).toEqual(
      new Set(['json', 'sns', 'eventbridge', 'text', 'unknown']),
    );
  });

  it.each(fixtures)('%s', async (_file, fixture) => {
    const ids: Record<string, string> = {};
    const protectedIds: string[] = [];
    for (const [name, kind] of Object.entries(fixture.tokens)) {
      if (kind === 'unknown') ids[name] = newTokenId();
      else ids[name] = world.sandbox.addPat({ isActive: kind !== 'inactive' }).tokenId;
      if (kind === 'protected') protectedIds.push(ids[name]!);
    }
    const fill = (text: string) => text.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => ids[name] ?? `{{${name}}}`);
    let body = fill(typeof fixture.body === 'string' ? fixture.body : JSON.stringify(fixture.body));
    if (fixture.generate) {
      const generated = Array.from({ length: fixture.generate.tokenIds }, () => newTokenId());
      body = body.replace('"{{GENERATED}}"', JSON.stringify(generated));
    }
    if (fixture.base64) body = Buffer.from(body).toString('base64');

    const handler = world.handler(protectedIds.length ? { PROTECTED_TOKEN_IDS: protectedIds.join(',') } : {});
    const response = await handler([
      { messageId: 'fx', body, ...(fixture.attributes ? { attributes: fixture.attributes } : {}) },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });

    const nameOf = new Map(Object.entries(ids).map(([name, id]) => [id, name]));
    const audit = output.audit();
    const seen = Object.fromEntries(
      audit.map((line) => [
        line.outcome === 'invalid'
          ? (line.receivedAs ?? JSON.stringify(line.tokenId))
          : (nameOf.get(line.tokenId) ?? line.tokenId),
        line.outcome,
      ]),
    );
    const expected = Object.fromEntries(
      Object.entries(fixture.expect.outcomes).map(([key, outcome]) => [fill(key), outcome]),
    );
    expect(seen).toEqual(expected);
    for (const line of audit) expect(line.source).toBe(fixture.expect.source);
    if (fixture.expect.detailMatches)
      for (const line of audit) expect(line.detail).toContain(fixture.expect.detailMatches);

    for (const [name, outcome] of Object.entries(fixture.expect.outcomes)) {
      if (outcome === 'deactivated') expect(world.sandbox.isActive(ids[name]!)).toBe(false);
    }
    for (const name of fixture.expect.active ?? []) expect(world.sandbox.isActive(ids[name]!)).toBe(true);

    const dead = await world.sqs.drainDeadLetters();
    if (fixture.expect.deadLetter === null) {
      expect(dead).toEqual([]);
    } else {
      expect(dead).toHaveLength(1);
      expect(dead[0]!.attributes).toEqual({ outcome: fixture.expect.deadLetter.outcome, sourceMessageId: 'fx' });
      expect((dead[0]!.body as { tokenIds: string[] }).tokenIds).toEqual(
        fixture.expect.deadLetter.tokenIds.map((n) => ids[n]),
      );
    }
  });
});
