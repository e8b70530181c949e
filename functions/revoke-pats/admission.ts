/**
 * What a batch needs before its first Dfns call (CONTRACT sections 2 and 5): the service-account credential, loaded
 * before planning (the token it names is protected, and leaked access tokens are matched to its organisation, dry
 * runs included), and, where `SOURCE_QUEUE_URLS` is set, the proof that each record came from one of its queues.
 * Both run side by side, so a small incident waits for the slower of the two, not for both.
 */
import { CredentialError } from '../lib/credentials.js';
import type { Clock } from './deactivate-tokens.js';
import { classify } from './outcomes.js';
import type { CredentialState } from './plan-record.js';
import type { BatchDeps, BatchRecord } from './revoke-batch.js';
import type { ProofVerdict, SourceProof } from './source-proof.js';

/** The credential, and the configuration fault that kept it from loading, if that is why. */
export interface LoadedCredential {
  state: CredentialState;
  configFault?: CredentialError;
}

/** The records a batch may act on, those it may not (listed for SQS to deliver again), and the credential. */
export interface Admission {
  /** Proven to come from their queue (or every record, without `SOURCE_QUEUE_URLS`), in batch order. */
  admitted: BatchRecord[];
  /**
   * `messageId`s of the records not proven: refused, stale, or whose proof could not run this time. They are not
   * deliveries the function can vouch for: no token outcome, no dead letter, listed in `batchItemFailures` (a forged
   * one never comes back; a real one is proven on its next delivery).
   */
  notAdmitted: Set<string>;
  loaded: LoadedCredential;
}

/**
 * Proves the records' origin and loads the credential, side by side.
 *
 * @param stopAt time (of `clock.now()`) after which nothing may start; both are aborted then
 * @throws never
 */
export async function admit(
  records: BatchRecord[],
  deps: Pick<BatchDeps, 'credentials' | 'sourceProof' | 'audit'>,
  clock: Clock,
  stopAt: number,
): Promise<Admission> {
  const notAdmitted = new Set<string>();
  if (records.length === 0) return { admitted: [], notAdmitted, loaded: { state: { failed: 'no records' } } };
  const left = Math.ceil(stopAt - clock.now());
  const { sourceProof } = deps;
  const [verdicts, loaded] = await Promise.all([
    sourceProof && prove(records, sourceProof, left),
    loadCredential(deps, clock, stopAt),
  ]);
  if (!verdicts) return { admitted: records, notAdmitted, loaded };
  for (const record of records) {
    const verdict: ProofVerdict = verdicts.get(record.messageId) ?? NO_VERDICT;
    if (verdict.verdict === 'proven') continue;
    notAdmitted.add(record.messageId);
    report(record, verdict, deps.audit);
  }
  return { admitted: records.filter((r) => !notAdmitted.has(r.messageId)), notAdmitted, loaded };
}

const NO_VERDICT: ProofVerdict = { verdict: 'retry', detail: 'the source proof gave no verdict' };

/**
 * The verdicts of the proof. Without time left it is not started: every record is `retry` (never taken unproven).
 * A receipt handle given by two records proves at most one of them, and the event cannot say which: a real event
 * never repeats one, so every record sharing a handle is refused.
 */
async function prove(records: BatchRecord[], proof: SourceProof, leftMs: number): Promise<Map<string, ProofVerdict>> {
  if (leftMs <= 0) {
    const late: ProofVerdict = { verdict: 'retry', detail: 'not started: the invocation deadline is near' };
    return new Map(records.map((r) => [r.messageId, late]));
  }
  const holders = new Map<unknown, number>();
  for (const { receiptHandle } of records) holders.set(receiptHandle, (holders.get(receiptHandle) ?? 0) + 1);
  const shared = (r: BatchRecord) => typeof r.receiptHandle === 'string' && (holders.get(r.receiptHandle) ?? 0) > 1;
  const verdicts = await proof.prove(
    records.filter((r) => !shared(r)),
    AbortSignal.timeout(leftMs),
  );
  for (const record of records.filter(shared)) {
    verdicts.set(record.messageId, {
      verdict: 'refused',
      detail: 'its receipt handle is also given by another record of the event: a real event never repeats one',
    });
  }
  return verdicts;
}

/** What an operator sees of a record that was not admitted; a stale one is skipped quietly (it was handled). */
function report(record: BatchRecord, verdict: Exclude<ProofVerdict, { verdict: 'proven' }>, audit: BatchDeps['audit']) {
  const fields = { messageId: record.messageId, detail: verdict.detail };
  switch (verdict.verdict) {
    case 'refused':
      audit.forgedRecord();
      audit.problem(
        'record refused: not proven to come from a queue of SOURCE_QUEUE_URLS (a direct invoke with a forged event, or an event source on another queue); no token of it is acted on',
        fields,
      );
      return;
    case 'configFault':
      audit.problem('source proof failed for a configuration fault: the record is retried', fields);
      return;
    case 'retry':
      audit.warning('source proof could not run: the record is retried', fields);
      return;
    case 'stale':
      return;
  }
}

/**
 * Loads the credential (cached per container) unless the deadline is already near.
 *
 * @param stopAt time (of `clock.now()`) after which nothing may start; the fetch is aborted then
 * @returns the credential, or why the tokens needing it end `failed` (never throws)
 */
export async function loadCredential(
  deps: Pick<BatchDeps, 'credentials'>,
  clock: Clock,
  stopAt: number,
): Promise<LoadedCredential> {
  const left = stopAt - clock.now();
  if (left <= 0) return { state: { failed: 'not started: the invocation deadline is near' } };
  const deadline = AbortSignal.timeout(Math.ceil(left));
  try {
    return { state: { credential: await deps.credentials.get(deadline) } };
  } catch (error) {
    if (deadline.aborted) {
      return { state: { failed: 'the invocation deadline came while loading the credential: the record is retried' } };
    }
    return {
      state: { failed: classify(error).detail },
      ...(error instanceof CredentialError ? { configFault: error } : {}),
    };
  }
}
