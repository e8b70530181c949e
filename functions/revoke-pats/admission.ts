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
import type { ProofVerdict } from './source-proof.js';

/** The credential, and the configuration fault that kept it from loading, if that is why. */
export interface LoadedCredential {
  state: CredentialState;
  configFault?: CredentialError;
}

/** The records a batch may act on, those it may not (listed for SQS to deliver again), and the credential. */
export interface Admission {
  /**
   * The records to plan, in batch order: proven to come from their queue (or every record, without
   * `SOURCE_QUEUE_URLS`), and those whose proof could not run this time.
   */
  admitted: BatchRecord[];
  /**
   * `messageId` → why its proof could not run (a configuration fault, throttling, the deadline): planned so that
   * each token has its outcome, but no token goes to Dfns (they end `failed`), nothing is dead-lettered, and the
   * record is retried.
   */
  held: Map<string, string>;
  /**
   * `messageId`s of the records refused or stale: no token outcome, no dead letter, listed in `batchItemFailures`
   * (a forged one never comes back; a stale one was already handled).
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
  const held = new Map<string, string>();
  const notAdmitted = new Set<string>();
  if (records.length === 0) return { admitted: [], held, notAdmitted, loaded: { state: { failed: 'no records' } } };
  const left = Math.ceil(stopAt - clock.now());
  const [verdicts, loaded] = await Promise.all([
    // No time left: the proof is not even started (every record then ends as the credential's "deadline near").
    left > 0 ? deps.sourceProof?.prove(records, AbortSignal.timeout(left)) : undefined,
    loadCredential(deps, clock, stopAt),
  ]);
  if (!verdicts) return { admitted: records, held, notAdmitted, loaded };
  for (const record of records) {
    const verdict: ProofVerdict = verdicts.get(record.messageId) ?? {
      verdict: 'retry',
      detail: 'the source proof gave no verdict',
    };
    if (verdict.verdict === 'proven') continue;
    report(record, verdict, deps.audit);
    if (verdict.verdict === 'refused' || verdict.verdict === 'stale') notAdmitted.add(record.messageId);
    else held.set(record.messageId, `not proven to come from its queue: ${verdict.detail}; the record is retried`);
  }
  return { admitted: records.filter((r) => !notAdmitted.has(r.messageId)), held, notAdmitted, loaded };
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
