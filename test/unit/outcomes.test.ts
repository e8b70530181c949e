import { describe, expect, it } from '@jest/globals';
import { CredentialError } from '../../functions/lib/credentials.js';
import {
  DfnsAbortedError,
  DfnsApiError,
  DfnsCredentialNotAllowedError,
  DfnsNetworkError,
  DfnsPendingApprovalError,
  DfnsResponseError,
  DfnsTimeoutError,
  type DfnsStep,
} from '../../functions/lib/dfns/errors.js';
import { classify } from '../../functions/revoke-pats/outcomes.js';

const T = 'to-aaaaa-bbbbb-cccccccccccccccc';
const api = (step: DfnsStep, status: number, message = 'x') => new DfnsApiError(step, T, status, message);

/** [case, error, outcome, credentialRejected, retryable in this invocation] */
type Case = [name: string, error: unknown, outcome: string, credentialRejected: boolean, retryable: boolean];

describe('classify (CONTRACT section 5: which step failed matters)', () => {
  const cases: Case[] = [
    // a token outcome only when the PUT answered
    ['404 at the PUT', api('deactivate', 404), 'not_found', false, false],
    ['403 at the PUT', api('deactivate', 403), 'rejected', false, false],
    ['400 at the PUT', api('deactivate', 400, 'Invalid token state'), 'rejected', false, false],
    [
      '409 at the PUT saying already inactive',
      api('deactivate', 409, 'Token is already inactive'),
      'already_inactive',
      false,
      false,
    ],
    ['409 at the PUT (a conflict)', api('deactivate', 409, 'Conflict'), 'rejected', false, false],
    ['422 at the PUT', api('deactivate', 422, 'Unprocessable'), 'rejected', false, false],
    ['202 at the PUT', new DfnsPendingApprovalError(T, 'ap-1'), 'pending_approval', false, false],
    // our credential's fault: never the token's
    ['401 at init', api('init', 401), 'failed', true, false],
    ['401 at action', api('action', 401), 'failed', true, false],
    ['401 at the PUT', api('deactivate', 401), 'failed', true, false],
    ['403 at init', api('init', 403), 'failed', false, false],
    ['403 at action', api('action', 403), 'failed', false, false],
    ['404 at init (wrong API URL)', api('init', 404), 'failed', false, false],
    ['credId not allowed', new DfnsCredentialNotAllowedError(T, 'cr-1', 1), 'failed', false, false],
    // stale signing flow: redo, never final
    [
      'user action already used at the PUT',
      api('deactivate', 400, 'User action has already been used'),
      'failed',
      false,
      true,
    ],
    ['challenge expired at action', api('action', 400, 'Challenge has expired'), 'failed', false, true],
    ['invalid challenge at action', api('action', 400, 'Invalid challenge identifier'), 'failed', false, true],
    // transient
    ['408 at the PUT', api('deactivate', 408, 'Request Timeout'), 'failed', false, true],
    ['429', api('deactivate', 429), 'failed', false, true],
    ['500', api('init', 500), 'failed', false, true],
    ['502', api('action', 502), 'failed', false, true],
    ['a redirect', api('deactivate', 307), 'failed', false, true],
    ['timeout', new DfnsTimeoutError('deactivate', T, 100), 'failed', false, true],
    ['network', new DfnsNetworkError('init', T, 'ECONNRESET', 'reset'), 'failed', false, true],
    ['unusable 200', new DfnsResponseError('deactivate', T, 200, 'not JSON'), 'failed', false, true],
    // failed, but no retry in this invocation helps
    ['abort (deadline)', new DfnsAbortedError('action', T), 'failed', false, false],
    [
      'credential unusable',
      new CredentialError('unavailable', 'secret x: ThrottlingException'),
      'failed',
      false,
      false,
    ],
    ['anything else', new RangeError('boom'), 'failed', false, false],
  ];
  // Named by case and outcome: '%s' of an error would put its stack, line numbers included, into the name.
  it.each(
    cases.map(([name, error, outcome, credentialRejected, retryable]) => ({
      name,
      error,
      outcome,
      credentialRejected,
      retryable,
    })),
  )('$name → $outcome', ({ error, outcome, credentialRejected, retryable }) => {
    expect(classify(error)).toEqual({ outcome, credentialRejected, retryable, detail: expect.any(String) });
  });

  it('carries Retry-After of a 429 or 503 to the retry policy', () => {
    const error = new DfnsApiError('init', T, 429, 'slow down', '7');
    expect(classify(error)).toMatchObject({ retryable: true, retryAfter: '7' });
  });
});
