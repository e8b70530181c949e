/**
 * The outcomes of CONTRACT section 5 and the one classification of errors into them.
 *
 * Classification is by error type and HTTP status first, never by parsing a body first, and by the step that
 * failed: a 401/403 at `init` or `action` is a fault of our credential (every token ends `failed` and is retried),
 * only a 403/404 answering the `PUT .../deactivate` is an answer about the token.
 */
import {
  DfnsAbortedError,
  DfnsApiError,
  DfnsCredentialNotAllowedError,
  DfnsError,
  DfnsPendingApprovalError,
} from '../lib/dfns/errors.js';
import { CredentialError } from '../lib/credentials.js';
import { boundErrorText, formatError } from '../lib/format-error.js';

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
  'continued',
] as const;

/** A token's outcome. */
export type Outcome = (typeof OUTCOMES)[number];

/** Outcomes whose token is dead-lettered for a human (CONTRACT section 5, "what happens to the record"). */
export const DEAD_LETTER_OUTCOMES: ReadonlySet<Outcome> = new Set(['protected', 'invalid', 'not_found', 'rejected']);

/** Why the token the function authenticates with is `protected` (CONTRACT section 3). */
export const OWN_TOKEN_DETAIL =
  'the token this function authenticates with (named by its service-account token): never deactivated by it';

/** The result of classifying one failed deactivation attempt. */
export interface Classification {
  outcome: Outcome;
  /** What happened, for the audit line and the dead-letter message; never secret. */
  detail: string;
  /** Dfns rejected our credential (401): fetching the secret again may help. */
  credentialRejected: boolean;
  /**
   * Another attempt of the whole signing flow in this invocation may succeed (429, 5xx, network, timeout, a stale
   * challenge or user action...). False for final outcomes and for faults a retry cannot fix now (403/404 at
   * init/action, our credId not allowed, the caller's abort).
   */
  retryable: boolean;
  /** `Retry-After` as Dfns sent it (seconds or an HTTP-date), for the retry policy. */
  retryAfter?: string;
}

const STALE_USER_ACTION = /already (been )?used|expired|invalid challenge/i;
const ALREADY_INACTIVE = /already (in ?active|deactivated|disabled)/i;

/**
 * Classifies an error thrown while deactivating one token: by type and HTTP status first (never by the body
 * first), and by the step that failed (CONTRACT section 5). The one place where errors become outcomes.
 */
export function classify(error: unknown): Classification {
  const final = (outcome: Outcome, detail: string): Classification => ({
    outcome,
    detail: boundErrorText(detail),
    credentialRejected: false,
    retryable: false,
  });
  const transient = (detail: string, retryAfter?: string): Classification => ({
    outcome: 'failed',
    detail: boundErrorText(detail),
    credentialRejected: false,
    retryable: true,
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });

  if (error instanceof DfnsPendingApprovalError) return final('pending_approval', error.message);
  if (error instanceof DfnsApiError) {
    const onToken = error.step === 'deactivate';
    const { status } = error;
    if (status === 401)
      return { ...final('failed', `${error.message} (credential rejected)`), credentialRejected: true };
    if (onToken && status === 404) return final('not_found', error.message);
    if (onToken && (status === 400 || status === 409) && ALREADY_INACTIVE.test(error.dfnsMessage)) {
      return final('already_inactive', error.message);
    }
    // A used or expired challenge or user action: redo the whole signing flow, never final.
    if (status === 400 && STALE_USER_ACTION.test(error.dfnsMessage)) return transient(error.message);
    if (onToken && (status === 400 || status === 403 || status === 409 || status === 422)) {
      return final('rejected', error.message);
    }
    if (status === 408 || status === 429 || status >= 500 || (status >= 300 && status < 400)) {
      return transient(error.message, error.retryAfter);
    }
    // 403 at init/action (the service account lacks a permission), 404 at init/action (a wrong API URL), other
    // 4xx there: our fault, which no retry in this invocation fixes. The record is retried by SQS and alarmed.
    return final('failed', `${error.message} (configuration or request fault)`);
  }
  if (error instanceof DfnsCredentialNotAllowedError) return final('failed', `${error.message} (configuration)`);
  if (error instanceof DfnsAbortedError) return final('failed', `${error.message} (invocation deadline)`);
  if (error instanceof DfnsError) return transient(error.message); // timeout, network, unusable 2xx
  if (error instanceof CredentialError) return final('failed', error.message);
  return final('failed', `unexpected error: ${formatError(error)}`);
}
