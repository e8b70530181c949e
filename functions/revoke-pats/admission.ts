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
import type { BatchDeps } from './revoke-batch.js';

/** The credential, and the configuration fault that kept it from loading, if that is why. */
export interface LoadedCredential {
  state: CredentialState;
  configFault?: CredentialError;
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
