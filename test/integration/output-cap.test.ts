/**
 * Bounded output through the real handler: whatever comes in (a proxy's huge HTML page, a body of multi-byte
 * characters just under the request limit, a thousand invalid values), every line printed stays within
 * MAX_LINE_BYTES, every token still gets its own audit line, no line holds one value twice, and the dead-letter
 * message stays redrivable (under the request queue's limit, its first failures in full and the rest counted).
 */
import { describe, expect, it } from '@jest/globals';
import { MAX_ERROR_BYTES } from '../../functions/lib/format-error.js';
import { MAX_LINE_BYTES } from '../../functions/lib/output-cap.js';
import { MAX_DEAD_LETTER_BYTES } from '../../functions/revoke-pats/dead-letter.js';
import { MAX_BODY_BYTES } from '../../functions/revoke-pats/request.js';
import type { Captured } from '../support/stdout.js';
import { useWorld, type World } from '../support/world.js';

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

/** Every line printed (stdout and stderr) is within the cap. */
function expectEveryLineBounded(): void {
  const lines = output.text().split('\n');
  expect(lines.length).toBeGreaterThan(1);
  for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LINE_BYTES);
}

/** Runs one record through a fresh handler and returns what an operator would look at. */
async function run(body: string) {
  const response = await world.handler()([{ messageId: 'm1', body }]);
  const dead = await world.sqs.drainDeadLetters();
  const messages = dead.map((d) => ({ raw: d.raw ?? '', body: d.body as any, attributes: d.attributes }));
  return { response, audit: output.audit(), dead: messages };
}

describe('every output line stays within the cap', () => {
  it.each([
    ['900 KB, read whole: a final refusal of the token', 60_000, 'rejected'],
    ['2 MB, over the response limit: transient, retried', 130_000, 'failed'],
  ])("a proxy's HTML error page of %s is described, never echoed", async (_size, repeats, outcome) => {
    const [tokenId] = world.sandbox.seedPats(1) as [string];
    world.sandbox.injectFault({
      route: 'deactivate',
      tokenId,
      times: 10,
      respond: {
        status: 403,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: `<html><body>${'PROXY-PAGE-TEXT '.repeat(repeats)}</body></html>`,
      },
    });
    const { response, audit, dead } = await run(JSON.stringify({ tokenIds: [tokenId], incidentId: 'INC-HTML' }));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ tokenId, outcome, incidentId: 'INC-HTML' });
    expect(Buffer.byteLength(audit[0]!.detail)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    expect(output.text()).not.toContain('PROXY-PAGE');
    if (outcome === 'rejected') {
      expect(response).toEqual({ batchItemFailures: [] });
      expect(audit[0]!.detail).toMatch(/403.*text\/html/);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.raw).not.toContain('PROXY-PAGE');
      expect(dead[0]!.body.failures).toEqual([{ tokenId, outcome: 'rejected', detail: audit[0]!.detail }]);
    } else {
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
      expect(dead).toEqual([]);
    }
    expectEveryLineBounded();
  });

  it('a body of multi-byte characters just under the request limit: each invalid value once, in its own line', async () => {
    const [tokenId] = world.sandbox.seedPats(1) as [string];
    // 990 distinct invalid values of 64 characters, most of three bytes (a longer one would be shown only as a
    // fingerprint), and a reason of four-byte ones filling the rest.
    const invalid = Array.from({ length: 990 }, (_, i) => `${String(i).padStart(3, '0')}${'€'.repeat(61)}`);
    const request = { tokenIds: [tokenId, ...invalid], incidentId: 'INC-MB', reason: '' };
    const room = MAX_BODY_BYTES - Buffer.byteLength(JSON.stringify(request)) - 16;
    request.reason = '𝄞'.repeat(Math.floor(room / 4));
    const body = JSON.stringify(request);
    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_BODY_BYTES - 32);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY_BYTES);

    const { response, audit, dead } = await run(body);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    // The per-token audit lines all stay: one per value, the value in full, once.
    expect(audit.map((l) => l.tokenId)).toEqual([tokenId, ...invalid]);
    for (const line of audit.slice(1)) {
      expect(line).toMatchObject({ outcome: 'invalid', incidentId: 'INC-MB' });
      expect(line.receivedAs).toBeUndefined();
      expect(JSON.stringify(line).split(line.tokenId).length - 1).toBe(1);
    }
    // The reason is carried, cut to its limit (1000 characters), and the cut is said.
    expect([...audit[0]!.reason].length).toBeLessThanOrEqual(1_000);
    expect(output.json().some((l) => l.level === 'WARN' && /reason cut/.test(JSON.stringify(l.warnings)))).toBe(true);
    // The dead-letter message fits the request queue, shows its first failures in full and counts the rest.
    expect(dead).toHaveLength(1);
    const message = dead[0]!.body;
    expect(Buffer.byteLength(dead[0]!.raw)).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    expect(message.failuresTruncated).toBe(true);
    expect(message.failures.length).toBeGreaterThan(0);
    expect(message.failures.length + message.failuresNotShown).toBe(990);
    expect(message.failures.map((f: any) => f.tokenId)).toEqual(invalid.slice(0, message.failures.length));
    expect(message.tokenIds).toEqual([]);
    expectEveryLineBounded();
  });

  it('999 invalid IDs in plain text: 999 audit lines, a redrivable dead letter holding every failed token ID', async () => {
    const tokens = world.sandbox.seedPats(2);
    world.sandbox.injectFault({ route: 'deactivate', tokenId: tokens[1]!, respond: { status: 404, body: '{}' } });
    // 64 characters each, most of three bytes: the longest value shown as it is (see secret-values.ts).
    const invalid = Array.from({ length: 997 }, (_, i) => `bad-${String(i).padStart(4, '0')}-${'€'.repeat(55)}`);
    const body = [tokens[0], ...invalid, tokens[1]].join('\n');
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY_BYTES);

    const { response, audit, dead } = await run(body);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(audit).toHaveLength(999);
    expect(audit.filter((l) => l.outcome === 'invalid').map((l) => l.tokenId)).toEqual(invalid);
    const message = dead[0]!.body;
    expect(Buffer.byteLength(dead[0]!.raw)).toBeLessThanOrEqual(MAX_DEAD_LETTER_BYTES);
    // tokenIds stays whole (it is what a redrive retries), whatever was cut from failures.
    expect(message.tokenIds).toEqual([tokens[1]]);
    expect(message).toMatchObject({ failuresTruncated: true });
    expect(message.failures.length + message.failuresNotShown).toBe(998);
    expect(message.failures[0]).toEqual({
      tokenId: invalid[0],
      outcome: 'invalid',
      detail: 'contains whitespace, control, zero-width or non-ASCII characters',
    });
    // The failure of the token a redrive retries is never the one cut, and the attribute counts what was cut.
    expect(message.failures.at(-1)).toMatchObject({ tokenId: tokens[1], outcome: 'not_found' });
    expect(dead[0]!.attributes.outcome).toBe('mixed');
    expectEveryLineBounded();
  });

  it('a value the logger cannot print whole (an object, a list) is shown once, whole, as its JSON text', async () => {
    const values = [
      '{"__proto__":{"admin":true}}', // a key the logger's merge would drop
      JSON.stringify(Array.from({ length: 30 }, (_, i) => i)), // a list the cap would cut to 20
      JSON.stringify({ ids: Array(25).fill('to-x') }),
    ];
    const { audit } = await run(`{"tokenIds":[${values.join(',')}]}`);
    expect(audit.map((l) => [l.tokenId, l.receivedAs, l.outcome])).toEqual(
      values.map((text) => [undefined, text, 'invalid']),
    );
  });

  it('a dead letter never holds U+FFFE or U+FFFF raw (SQS refuses them), and still says what was received', async () => {
    const { dead } = await run(String.raw`{"tokenIds":["bad\uffff","bad\ufffe"]}`);
    expect(dead[0]!.raw).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(dead[0]!.body.failures.map((f: any) => f.tokenId)).toEqual(['bad\uffff', 'bad\ufffe']);
  });

  it('10 000 values in one body are refused whole in one bounded line, the body kept (cut) for the human', async () => {
    const body = Array.from({ length: 10_000 }, (_, i) => `v${i}`).join(' ');
    const { response, audit, dead } = await run(body);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      outcome: 'invalid',
      receivedAs: 'null',
      detail: '10000 entries; at most 1000 per message',
    });
    expect(dead[0]!.body).toMatchObject({ tokenIds: [], body });
    expectEveryLineBounded();
  });
});
