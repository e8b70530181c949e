/**
 * Property-style test: random batches of tokens under random fault scripts, delivered the way SQS does (retried
 * records come back with a higher receive count until the function dead-letters them on the last receive).
 *
 * Invariant: every token ID of every record ends in a contract outcome: deactivated (off at the sandbox), pending
 * approval, or in the DLQ with that outcome and its reason; a record is never dead-lettered twice; its DLQ body can
 * be redriven as it is; every record is finally acknowledged, or, after configuration faults only, leaves through
 * the redrive policy. Seeded, so a failing case can be replayed (the seed is in the test name).
 */
import { describe, expect, it } from '@jest/globals';
import type { SandboxFault, SandboxRoute } from '../../tools/sandbox/faults.js';
import { dfnsError, htmlError } from '../../tools/sandbox/faults.js';
import { newTokenId } from '../../tools/sandbox/ids.js';
import type { ReceivedMessage } from '../../tools/aws/sqs.js';
import { OUTCOMES } from '../../functions/revoke-pats/outcomes.js';
import { instantClock } from '../support/clock.js';
import type { Captured } from '../support/stdout.js';
import { useWorld, type World } from '../support/world.js';

const CASES = Number(process.env.INVARIANT_CASES ?? 30);
const MAX_RECEIVE_COUNT = 4;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

interface Case {
  records: Array<{ messageId: string; body: Record<string, unknown> }>;
  faults: SandboxFault[];
  /** GetSecretValue calls answered AccessDeniedException. */
  secretsFaults: number;
}

function generate(random: () => number): Case {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
  const pool = [
    ...world.sandbox.seedPats(4),
    world.sandbox.addPat({ isActive: false }).tokenId,
    newTokenId(), // unknown to Dfns
  ];
  const records = Array.from({ length: 1 + Math.floor(random() * 5) }, (_, r) => {
    const tokenIds: unknown[] = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(pool));
    if (random() < 0.2) tokenIds.push(pick(['TO-BAD', 42, '', 'to-x']));
    return { messageId: `r${r}`, body: { tokenIds, incidentId: `INC-${r}` } };
  });
  const kinds: Array<Omit<SandboxFault, 'route'>> = [
    { respond: dfnsError(429, 'Too many requests', { 'retry-after': '0' }) },
    { respond: dfnsError(500, 'boom') },
    { respond: htmlError(502) },
    { respond: { status: 503 } },
    { reset: true },
    { reset: true, afterProcessing: true },
    { hang: true },
    { respond: { status: 200, body: 'OK' } },
    { respond: dfnsError(400, 'User action has already been used') },
    { respond: dfnsError(403, 'Forbidden') },
    { respond: { status: 202, body: { id: 'ap-1' } } },
    { midBody: 'reset' },
  ];
  const routes: SandboxRoute[] = ['init', 'action', 'deactivate'];
  const faults = Array.from({ length: Math.floor(random() * 6) }, () => {
    const kind = pick(kinds);
    // 403 and 202 only mean something as answers to the PUT
    const route = kind.respond && [403, 202].includes(kind.respond.status) ? 'deactivate' : pick(routes);
    // up to 14 uses: some tokens still fail on the last receive (3 attempts × 4 receives), others recover
    return {
      ...kind,
      route,
      times: 1 + Math.floor(random() * 14),
      ...(random() < 0.6 ? { tokenId: pick(pool) } : {}),
    } as SandboxFault;
  });
  // Secrets Manager refuses now and then: a configuration fault retries every record of the batch.
  const secretsFaults = random() < 0.15 ? 1 + Math.floor(random() * 2) : 0;
  return { records, faults, secretsFaults };
}

describe('every token ends deactivated, pending, or in the DLQ with its reason; never twice in the DLQ', () => {
  const seeds = Array.from({ length: CASES }, (_, i) => 1000 + i);
  it.each(seeds)('seed %i', async (seed) => {
    const random = prng(seed);
    const { records, faults, secretsFaults } = generate(random);
    for (const fault of faults) world.sandbox.injectFault(fault);
    if (secretsFaults > 0) world.secrets.injectFault({ type: 'AccessDeniedException', times: secretsFaults });
    // A budget that never binds: these deliveries run in seconds of real time, and the budget has its own tests
    // (test/integration/budget.test.ts); here a late token would only be one more transient failure.
    const handler = world.handler(
      {
        DFNS_REQUEST_TIMEOUT_MS: '100',
        MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
        MAX_CONCURRENCY: '4',
        DFNS_REQUESTS_PER_MINUTE: '1000000',
      },
      { clock: instantClock(), random },
    );

    // SQS: deliver, redeliver what was not acknowledged with a higher receive count.
    let pending = records.map((r) => ({ ...r, receiveCount: 1 }));
    const lastOutcome = new Map<string, Map<string, string>>(); // messageId → token (as JSON) → outcome
    const acknowledged = new Set<string>();
    const redriven = new Set<string>(); // left through the redrive policy (only for configuration faults)
    while (pending.length > 0) {
      const before = output.audit().length;
      const { batchItemFailures } = await handler(pending);
      for (const line of output.audit().slice(before)) {
        const byToken = lastOutcome.get(line.messageId) ?? new Map();
        byToken.set(line.receivedAs ?? JSON.stringify(line.tokenId), line.outcome);
        lastOutcome.set(line.messageId, byToken);
      }
      const retried = new Set(batchItemFailures.map((f) => f.itemIdentifier));
      for (const r of pending) if (!retried.has(r.messageId)) acknowledged.add(r.messageId);
      // SQS' redrive policy: past maxReceiveCount a record leaves for the DLQ with its original body.
      const back = pending
        .filter((r) => retried.has(r.messageId))
        .map((r) => ({ ...r, receiveCount: r.receiveCount + 1 }));
      for (const r of back.filter((b) => b.receiveCount > MAX_RECEIVE_COUNT)) redriven.add(r.messageId);
      pending = back.filter((r) => r.receiveCount <= MAX_RECEIVE_COUNT);
    }

    const dead: ReceivedMessage[] = await world.sqs.drainDeadLetters();
    const bySource = new Map<string, any>();
    for (const message of dead) {
      const body = message.body as any;
      expect(bySource.has(body.sourceMessageId)).toBe(false); // never twice for one record
      bySource.set(body.sourceMessageId, body);
      for (const failure of body.failures) expect(failure.detail).toEqual(expect.any(String));
    }

    // Secrets Manager refuses only the first calls, so no record is still failing for it on its last receive:
    // every record is acknowledged by the function itself, none leaves bare through the redrive policy.
    expect([...redriven]).toEqual([]);
    for (const record of records) {
      expect(acknowledged.has(record.messageId)).toBe(true);
      const outcomes = lastOutcome.get(record.messageId)!;
      const message = bySource.get(record.messageId);
      const deadTokens = new Map<string, string>(
        (message?.failures ?? []).map((f: any) => [JSON.stringify(f.tokenId), f.outcome]),
      );
      if (message) {
        // redrivable as it is: tokenIds are exactly the failed entries that are token IDs
        expect(message.tokenIds).toEqual(
          message.failures.filter((f: any) => f.outcome !== 'invalid').map((f: any) => f.tokenId),
        );
      }
      for (const [token, outcome] of outcomes) {
        expect(OUTCOMES).toContain(outcome);
        if (redriven.has(record.messageId)) continue; // the original body is in the DLQ; the audit trail says why
        if (['deactivated', 'already_inactive', 'pending_approval', 'dry_run'].includes(outcome)) {
          expect(deadTokens.has(token)).toBe(false);
          if (outcome === 'deactivated' || outcome === 'already_inactive') {
            expect(world.sandbox.isActive(JSON.parse(token))).toBe(false);
          }
        } else {
          // invalid, not_found, rejected, protected, or failed on the last receive: in the DLQ with that outcome
          expect([record.messageId, token, deadTokens.get(token)]).toEqual([record.messageId, token, outcome]);
        }
      }
      // every raw entry of the request got an outcome
      const asked = new Set(
        (record.body.tokenIds as unknown[]).map((t) =>
          JSON.stringify(typeof t === 'string' && t.trim() !== t ? t.trim() : t),
        ),
      );
      expect(new Set(outcomes.keys())).toEqual(asked);
    }
  });
});
