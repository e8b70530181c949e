import { describe, expect, it } from '@jest/globals';
import type { ServiceAccountCredential } from '../../functions/lib/dfns/client.js';
import { admit } from '../../functions/revoke-pats/admission.js';
import type { AuditSink } from '../../functions/revoke-pats/audit.js';
import type { BatchRecord } from '../../functions/revoke-pats/revoke-batch.js';
import type { ProofVerdict, SourceProof } from '../../functions/revoke-pats/source-proof.js';
import { instantClock } from '../support/clock.js';

const credential = { authToken: 'token', credId: 'cred' } as unknown as ServiceAccountCredential;
const record = (messageId: string): BatchRecord => ({ messageId, body: '{}', receiveCount: 1 });

/** An audit sink that keeps what the admission reports. */
function recordingAudit() {
  const seen: string[] = [];
  const audit = {
    forgedRecord: () => seen.push('ForgedRecords'),
    problem: (message: string) => seen.push(`ERROR ${message}`),
    warning: (message: string) => seen.push(`WARN ${message}`),
  } as unknown as AuditSink;
  return { audit, seen };
}

describe('admit', () => {
  it('proves the records while the credential loads: neither waits for the other to finish', async () => {
    // Each side finishes only once the other has started: run one after the other, this never settles.
    let proofStarted!: () => void;
    let fetchStarted!: () => void;
    const proving = new Promise<void>((resolve) => (proofStarted = resolve));
    const fetching = new Promise<void>((resolve) => (fetchStarted = resolve));
    const sourceProof: SourceProof = {
      prove: async (records) => {
        proofStarted();
        await fetching;
        return new Map(records.map((r) => [r.messageId, { verdict: 'proven' } as ProofVerdict]));
      },
    };
    const credentials = {
      get: async () => {
        fetchStarted();
        await proving;
        return credential;
      },
      refresh: async () => credential,
    };
    const { audit } = recordingAudit();
    const clock = instantClock();
    const admission = await admit([record('m1')], { credentials, sourceProof, audit }, clock, clock.now() + 60_000);
    expect(admission.admitted.map((r) => r.messageId)).toEqual(['m1']);
    expect(admission.loaded.state).toEqual({ credential });
  });

  it('admits only proven records, and says why for each of the others', async () => {
    const verdicts: Record<string, ProofVerdict> = {
      ok: { verdict: 'proven' },
      forged: { verdict: 'refused', detail: 'ReceiptHandleIsInvalid' },
      gone: { verdict: 'stale', detail: 'MessageNotInflight' },
      denied: { verdict: 'configFault', detail: 'AccessDenied' },
      slow: { verdict: 'retry', detail: 'RequestThrottled' },
    };
    const sourceProof: SourceProof = { prove: async () => new Map(Object.entries(verdicts)) };
    const credentials = { get: async () => credential, refresh: async () => credential };
    const { audit, seen } = recordingAudit();
    const clock = instantClock();
    const records = [...Object.keys(verdicts), 'missing'].map(record);
    const admission = await admit(records, { credentials, sourceProof, audit }, clock, clock.now() + 60_000);
    expect(admission.admitted.map((r) => r.messageId)).toEqual(['ok']);
    expect([...admission.notAdmitted]).toEqual(['forged', 'gone', 'denied', 'slow', 'missing']);
    expect(seen).toEqual([
      'ForgedRecords',
      expect.stringMatching(/^ERROR record refused/),
      expect.stringMatching(/^ERROR source proof failed for a configuration fault/),
      expect.stringMatching(/^WARN source proof could not run/),
      expect.stringMatching(/^WARN source proof could not run/),
    ]);
  });

  it('starts no proof and no fetch when the deadline is already near, and admits nothing unproven', async () => {
    let calls = 0;
    const sourceProof: SourceProof = {
      prove: async () => {
        calls += 1;
        return new Map();
      },
    };
    const credentials = {
      get: async () => {
        calls += 1;
        return credential;
      },
      refresh: async () => credential,
    };
    const clock = instantClock();
    const admission = await admit(
      [record('m1')],
      { credentials, sourceProof, audit: recordingAudit().audit },
      clock,
      clock.now(),
    );
    expect(calls).toBe(0);
    expect(admission.admitted).toEqual([]);
    expect([...admission.notAdmitted]).toEqual(['m1']);
    expect(admission.loaded.state).toEqual({ failed: 'not started: the invocation deadline is near' });
  });

  it('refuses every record that shares a receipt handle with another: one live handle vouches for one record', async () => {
    const proven: string[] = [];
    const sourceProof: SourceProof = {
      prove: async (records) => {
        proven.push(...records.map((r) => r.messageId));
        return new Map(records.map((r) => [r.messageId, { verdict: 'proven' } as ProofVerdict]));
      },
    };
    const credentials = { get: async () => credential, refresh: async () => credential };
    const { audit, seen } = recordingAudit();
    const records = [
      { ...record('real'), receiptHandle: 'AQEBlive' },
      { ...record('forged'), receiptHandle: 'AQEBlive' },
      { ...record('other'), receiptHandle: 'AQEBother' },
    ];
    const clock = instantClock();
    const admission = await admit(records, { credentials, sourceProof, audit }, clock, clock.now() + 60_000);
    expect(proven).toEqual(['other']);
    expect(admission.admitted.map((r) => r.messageId)).toEqual(['other']);
    expect(seen.filter((line) => line === 'ForgedRecords')).toHaveLength(2);
  });
});
