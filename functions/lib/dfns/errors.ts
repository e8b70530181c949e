/**
 * Typed errors of one Dfns deactivation attempt.
 *
 * Every error says which step failed, because the same HTTP status means different things per step (CONTRACT
 * section 5: a 401/403 at `init` or `action` is a fault of our credential, a 403/404 at `deactivate` is a fault of
 * the token). No error carries the bearer token, the user action, the private key or a response body beyond the
 * Dfns message; the token ID being revoked is not secret and is kept for the audit trail.
 */
import { shortCredId } from './redact.js';

/** The three requests of a deactivation, in order (dfns-protocol.md, "The four steps"). */
export type DfnsStep = 'init' | 'action' | 'deactivate';

/** Method and path template of each step, for messages. */
export const STEP_ROUTES: Record<DfnsStep, string> = {
  init: 'POST /auth/action/init',
  action: 'POST /auth/action',
  deactivate: 'PUT /auth/pats/{tokenId}/deactivate',
};

/** Base class of every error the Dfns client throws. */
export abstract class DfnsError extends Error {
  abstract override readonly name: string;
  /** The request that failed. */
  readonly step: DfnsStep;
  /** The token ID whose deactivation failed. */
  readonly tokenId: string;

  protected constructor(step: DfnsStep, tokenId: string, message: string, options?: ErrorOptions) {
    super(`Dfns ${STEP_ROUTES[step]} for ${tokenId}: ${message}`, options);
    this.step = step;
    this.tokenId = tokenId;
  }
}

/**
 * Dfns (or a proxy in front of it) answered with an HTTP error status (4xx/5xx).
 *
 * `dfnsMessage` is `error.message` of a Dfns JSON error body, or a short description of a body that is not one
 * (HTML from a proxy, empty), never the body itself.
 */
export class DfnsApiError extends DfnsError {
  override readonly name = 'DfnsApiError';
  constructor(
    step: DfnsStep,
    tokenId: string,
    /** HTTP status code. */
    readonly status: number,
    /** What Dfns said, sanitised and at most 300 characters. */
    readonly dfnsMessage: string,
    /** Raw `Retry-After` header (seconds or an HTTP-date), when present. */
    readonly retryAfter?: string,
    /** Dfns' `error.id` (what Dfns support asks for), when the body had one of its shape. */
    readonly dfnsErrorId?: string,
  ) {
    super(step, tokenId, `HTTP ${status}: ${dfnsMessage}${dfnsErrorId ? ` (Dfns error id ${dfnsErrorId})` : ''}`);
  }
}

/**
 * Dfns answered 202 Accepted: a Dfns policy holds the action for approval; the token is still active.
 * The official SDK raises the same case as `PolicyPendingError`.
 */
export class DfnsPendingApprovalError extends DfnsError {
  override readonly name = 'DfnsPendingApprovalError';
  readonly status = 202;
  constructor(
    tokenId: string,
    /** The approval's ID (`ap-...`) when Dfns returned one. */
    readonly approvalId?: string,
  ) {
    super('deactivate', tokenId, `held for approval by a Dfns policy${approvalId ? ` (approval ${approvalId})` : ''}`);
  }
}

/** The request did not get an HTTP answer: connection refused or reset, socket closed, DNS failure, TLS error. */
export class DfnsNetworkError extends DfnsError {
  override readonly name = 'DfnsNetworkError';
  constructor(
    step: DfnsStep,
    tokenId: string,
    /** The system error code when known (`ECONNRESET`, `ECONNREFUSED`, `ENOTFOUND`, a TLS code, ...). */
    readonly code: string | undefined,
    detail: string,
  ) {
    super(step, tokenId, `network error${code ? ` ${code}` : ''}: ${detail}`);
  }
}

/** No complete answer arrived within the per-request timeout; the request was aborted. */
export class DfnsTimeoutError extends DfnsError {
  override readonly name = 'DfnsTimeoutError';
  constructor(
    step: DfnsStep,
    tokenId: string,
    /** The timeout that expired, in ms. */
    readonly timeoutMs: number,
  ) {
    super(step, tokenId, `no answer within ${timeoutMs} ms (request aborted)`);
  }
}

/** The caller aborted the request through its `AbortSignal` (for example the invocation deadline guard). */
export class DfnsAbortedError extends DfnsError {
  override readonly name = 'DfnsAbortedError';
  constructor(step: DfnsStep, tokenId: string) {
    super(step, tokenId, 'aborted by the caller');
  }
}

/**
 * Dfns answered with a success status but a body this client cannot use: not JSON, or missing a field the
 * protocol requires (`challenge`, `userAction`, the PAT's `isActive`...).
 */
export class DfnsResponseError extends DfnsError {
  override readonly name = 'DfnsResponseError';
  constructor(
    step: DfnsStep,
    tokenId: string,
    /** HTTP status of the unusable answer. */
    readonly status: number,
    detail: string,
  ) {
    super(step, tokenId, `unusable answer (HTTP ${status}): ${detail}`);
  }
}

/**
 * The challenge does not allow our credential: `credId` is not in `allowCredentials.key` (the official
 * keysigner refuses the same way before signing). A configuration fault: wrong `credId`, or the key credential was
 * deactivated at Dfns.
 */
export class DfnsCredentialNotAllowedError extends DfnsError {
  override readonly name = 'DfnsCredentialNotAllowedError';
  constructor(tokenId: string, credId: string, allowedCount: number) {
    super(
      'init',
      tokenId,
      `credId ${shortCredId(credId)} is not among the ${allowedCount} key credential(s) the challenge allows`,
    );
  }
}
