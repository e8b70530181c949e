/**
 * The outcomes of CONTRACT section 5 and the one classification of errors into them.
 *
 * Classification is by error type and HTTP status first, never by parsing a body first, and by the step that
 * failed: a 401/403 at `init` or `action` is a fault of our credential (every token ends `failed` and is retried),
 * only a 403/404 answering the `PUT .../deactivate` is an answer about the token.
 */
import {
  DfnsApiError,
  DfnsCredentialNotAllowedError,
  DfnsError,
  DfnsPendingApprovalError,
} from '../lib/dfns/errors.js';
import { CredentialError } from '../lib/credentials.js';

/** Every outcome a token ID of a record can end in (CONTRACT section 5). */
export const OUTCOMES = [
  'deactivated',
  'already_inactive',
  'dry_run',
  'pending_approval',
  'protected',
  'invalid',
  'not_found',
  'rejected',
  'failed',
] as const;

/** A token's outcome. */
export type Outcome = (typeof OUTCOMES)[number];

/** Outcomes whose token is dead-lettered for a human (CONTRACT section 5, "what happens to the record"). */
export const DEAD_LETTER_OUTCOMES: ReadonlySet<Outcome> = new Set(['protected', 'invalid', 'not_found', 'rejected']);

/** The result of classifying one failed deactivation attempt. */
export interface Classification {
  outcome: Outcome;
  /** What happened, for the audit line and the dead-letter message; never secret. */
  detail: string;
  /** Dfns rejected our credential (401): fetching the secret again may help. */
  credentialRejected: boolean;
}

const STALE_USER_ACTION = /already (been )?used|expired|invalid challenge/i;
const ALREADY_INACTIVE = /already (in ?active|deactivated|disabled)/i;

/** Classifies an error thrown while deactivating one token. */
export function classify(error: unknown): Classification {
  const result = (outcome: Outcome, detail: string, credentialRejected = false): Classification => ({
    outcome,
    detail,
    credentialRejected,
  });

  if (error instanceof DfnsPendingApprovalError) return result('pending_approval', error.message);
  if (error instanceof DfnsApiError) {
    const onToken = error.step === 'deactivate';
    const { status } = error;
    if (status === 401) return result('failed', `${error.message} (credential rejected)`, true);
    if (onToken && status === 404) return result('not_found', error.message);
    if (onToken && (status === 400 || status === 409) && ALREADY_INACTIVE.test(error.dfnsMessage)) {
      return result('already_inactive', error.message);
    }
    // A used or expired challenge or user action is redone with a fresh signing flow, never final.
    if (status === 400 && STALE_USER_ACTION.test(error.dfnsMessage)) return result('failed', error.message);
    if (onToken && (status === 400 || status === 403 || status === 409 || status === 422)) {
      return result('rejected', error.message);
    }
    // Everything else is ours or Dfns' transient trouble: 403 at init/action (permissions of the service account),
    // 404 at init/action (wrong API URL), 408, 429, 5xx.
    return result('failed', error.message);
  }
  if (error instanceof DfnsCredentialNotAllowedError) return result('failed', `${error.message} (configuration)`);
  if (error instanceof DfnsError) return result('failed', error.message);
  if (error instanceof CredentialError) return result('failed', error.message);
  const what = error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : typeof error;
  return result('failed', `unexpected error: ${what}`);
}
