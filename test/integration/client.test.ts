/**
 * Our Dfns client against the sandbox over real HTTP: the sandbox verifies every signature and binding, so a pass
 * here means the requests are right, not just well-formed.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { DfnsClient } from '../../functions/lib/dfns/client.js';
import {
  DfnsAbortedError,
  DfnsApiError,
  DfnsCredentialNotAllowedError,
  DfnsNetworkError,
  DfnsPendingApprovalError,
  DfnsResponseError,
  DfnsTimeoutError,
} from '../../functions/lib/dfns/errors.js';
import { SigningKey } from '../../functions/lib/dfns/signing.js';
import { dfnsError, errorBody, htmlError } from '../../tools/sandbox/faults.js';
import { generateKey, newTokenId } from '../../tools/sandbox/ids.js';
import { startSandbox, type DfnsSandbox, type RecordedRequest } from '../../tools/sandbox/sandbox.js';
import { accountWithClient, call, clientFor, eventually, type TestAccount } from '../support/dfns.js';
import { keysInEveryFormat, PEM_SHAPES } from '../support/keys.js';

let sandbox: DfnsSandbox;
let account: TestAccount;

beforeAll(async () => {
  sandbox = await startSandbox();
  account = accountWithClient(sandbox, 'ed25519', { requestTimeoutMs: 2_000 });
});
afterAll(async () => sandbox.close());
beforeEach(() => {
  sandbox.faults.clear();
  sandbox.resetRecording();
});

/** Runs `fn` and returns what it threw (failing the test if it did not throw). */
async function thrown(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('deactivatePat', () => {
  it('switches an active PAT off with init → action → PUT and returns the PAT', async () => {
    const { tokenId } = sandbox.addPat();
    const pat = await account.client.deactivatePat(tokenId);
    expect(pat).toMatchObject({ tokenId, isActive: false, kind: 'Pat', orgId: sandbox.orgId });
    expect(sandbox.isActive(tokenId)).toBe(false);
    expect(sandbox.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['POST', '/auth/action/init', 200],
      ['POST', '/auth/action', 200],
      ['PUT', `/auth/pats/${tokenId}/deactivate`, 200],
    ]);
    const init = JSON.parse(sandbox.requests[0]!.body);
    expect(init.userActionPayload).toBe(sandbox.requests[2]!.body);
  });

  it('reports an already inactive PAT as Dfns does: 200 with isActive false', async () => {
    const { tokenId } = sandbox.addPat({ isActive: false });
    await expect(account.client.deactivatePat(tokenId)).resolves.toMatchObject({ tokenId, isActive: false });
    expect(sandbox.isActive(tokenId)).toBe(false);
  });

  it('throws a typed 404 at the deactivate step for a token Dfns does not know', async () => {
    const tokenId = newTokenId();
    const error = await thrown(() => account.client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsApiError);
    expect(error).toMatchObject({ status: 404, step: 'deactivate', tokenId });
    expect((error as DfnsApiError).dfnsMessage).toMatch(/not found/);
  });

  it('throws a typed 401 at the init step for a bad bearer token, and sends nothing further', async () => {
    const { tokenId } = sandbox.addPat();
    const client = clientFor(sandbox, { ...account.secret, authToken: 'not-a-valid-token' });
    const error = await thrown(() => client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsApiError);
    expect(error).toMatchObject({ status: 401, step: 'init' });
    expect(sandbox.requests.map((r) => r.route)).toEqual(['init']);
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('throws a typed 401 at the action step when the key is not the registered one', async () => {
    const { tokenId } = sandbox.addPat();
    const client = clientFor(sandbox, { ...account.secret, privateKey: generateKey('ed25519').privateKeyPem });
    const error = await thrown(() => client.deactivatePat(tokenId));
    expect(error).toMatchObject({ name: 'DfnsApiError', status: 401, step: 'action' });
    expect((error as DfnsApiError).dfnsMessage).toBe('Invalid signature');
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('refuses to sign when the challenge does not allow our credId', async () => {
    const { tokenId } = sandbox.addPat();
    const client = clientFor(sandbox, { ...account.secret, credId: 'some-other-credential' });
    const error = await thrown(() => client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsCredentialNotAllowedError);
    expect(sandbox.requests.map((r) => r.route)).toEqual(['init']);
  });

  it('aborts a hung PUT at the timeout: a typed timeout, and the sandbox sees the request closed', async () => {
    const { tokenId } = sandbox.addPat();
    const client = clientFor(sandbox, account.secret, { requestTimeoutMs: 150 });
    sandbox.injectFault({ route: 'deactivate', hang: true });
    const error = await thrown(() => client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsTimeoutError);
    expect(error).toMatchObject({ step: 'deactivate', timeoutMs: 150, tokenId });
    const put = sandbox.requestsTo('deactivate')[0]!;
    await eventually(() => put.closedByClient, 'the sandbox to see the PUT closed by the client');
    expect(put.status).toBeUndefined();
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('aborts when the caller signal fires, distinguishable from a timeout', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'action', hang: true });
    const controller = new AbortController();
    const pending = account.client.deactivatePat(tokenId, { signal: controller.signal });
    await eventually(() => sandbox.requestsTo('action').length === 1, 'the action request to arrive');
    controller.abort();
    const error = await thrown(() => pending);
    expect(error).toBeInstanceOf(DfnsAbortedError);
    expect(error).toMatchObject({ step: 'action' });
    await eventually(() => sandbox.requestsTo('action')[0]!.closedByClient, 'the hung request to be closed');
  });

  it('does not start when the signal is already aborted', async () => {
    const error = await thrown(() => account.client.deactivatePat(newTokenId(), { signal: AbortSignal.abort() }));
    expect(error).toBeInstanceOf(DfnsAbortedError);
    expect(sandbox.requestCount).toBe(0);
  });

  it.each([
    ['before processing', false, true],
    ['after processing', true, false],
  ])('maps a connection reset %s to a network error with its code', async (_when, afterProcessing, stillActive) => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'deactivate', reset: true, afterProcessing });
    const error = await thrown(() => account.client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsNetworkError);
    expect(error).toMatchObject({ step: 'deactivate' });
    expect((error as DfnsNetworkError).code).toBe('ECONNRESET');
    expect(sandbox.isActive(tokenId)).toBe(stillActive);
  });

  it('maps a connection refused to a network error', async () => {
    const closed = await startSandbox();
    const client = clientFor(closed, closed.createServiceAccount({ kind: 'ed25519' }));
    await closed.close();
    const error = await thrown(() => client.deactivatePat(newTokenId()));
    expect(error).toMatchObject({ name: 'DfnsNetworkError', step: 'init', code: 'ECONNREFUSED' });
  });

  it('classifies a proxy 502 with HTML by status, without echoing the HTML', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'init', respond: htmlError(502) });
    const error = (await thrown(() => account.client.deactivatePat(tokenId))) as DfnsApiError;
    expect(error).toBeInstanceOf(DfnsApiError);
    expect(error).toMatchObject({ status: 502, step: 'init' });
    expect(error.dfnsMessage).toMatch(/^no Dfns error message \(text\/html, \d+ bytes\)$/);
    expect(error.message).not.toContain('<html');
  });

  it('keeps the status and Retry-After of a 429', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'action', respond: dfnsError(429, 'Too many requests', { 'retry-after': '3' }) });
    const error = await thrown(() => account.client.deactivatePat(tokenId));
    expect(error).toMatchObject({ name: 'DfnsApiError', status: 429, step: 'action', retryAfter: '3' });
    expect((error as DfnsApiError).dfnsMessage).toBe('Too many requests');
  });

  it('handles an empty 503 body', async () => {
    sandbox.injectFault({ route: 'init', respond: { status: 503 } });
    const error = await thrown(() => account.client.deactivatePat(newTokenId()));
    expect(error).toMatchObject({ status: 503, dfnsMessage: 'no Dfns error message (no content-type, 0 bytes)' });
  });

  it('raises a 202 as pending approval, with the approval ID', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'deactivate', respond: { status: 202, body: { id: 'ap-1', status: 'Pending' } } });
    const error = await thrown(() => account.client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsPendingApprovalError);
    expect(error).toMatchObject({ status: 202, approvalId: 'ap-1', step: 'deactivate' });
  });

  it('refuses a 200 whose body is not JSON, and one missing isActive', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'deactivate', respond: { status: 200, body: 'OK' } });
    const notJson = await thrown(() => account.client.deactivatePat(tokenId));
    expect(notJson).toBeInstanceOf(DfnsResponseError);
    expect(notJson.message).toMatch(/body is not JSON/);
    sandbox.injectFault({ route: 'deactivate', respond: { status: 200, body: { tokenId } } });
    const noState = await thrown(() => account.client.deactivatePat(tokenId));
    expect(noState).toBeInstanceOf(DfnsResponseError);
    expect(noState.message).toMatch(/isActive/);
  });

  it('returns a 200 that still says isActive: true as is, for the caller to judge', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'deactivate', respond: { status: 200, body: { tokenId, isActive: true } } });
    await expect(account.client.deactivatePat(tokenId)).resolves.toMatchObject({ isActive: true });
  });

  it('refuses a malformed token ID before any request', async () => {
    for (const bad of ['to-../../x', 'TO-AAAAA-BBBBB-CCCCCCCCCCCCCCCC', '', 'to-aaaaa-bbbbb-ccc/deactivate']) {
      await expect(account.client.deactivatePat(bad)).rejects.toThrow(TypeError);
    }
    expect(sandbox.requestCount).toBe(0);
  });

  it('never puts the bearer token, the user action or the key into an error', async () => {
    const { tokenId } = sandbox.addPat();
    // A (hypothetical) Dfns message that echoes the bearer back.
    sandbox.injectFault({
      route: 'deactivate',
      respond: dfnsError(403, `token ${account.secret.authToken} lacks Auth:Pats:Update`),
    });
    const error = await thrown(() => account.client.deactivatePat(tokenId));
    const userAction = sandbox.requestsTo('deactivate')[0]!.headers['x-dfns-useraction']!;
    const keyBody = account.secret.privateKey.split('\n')[1]!;
    for (const shown of [String(error), JSON.stringify(error), inspect(error, { depth: 5, showHidden: true })]) {
      expect(shown).not.toContain(account.secret.authToken);
      expect(shown).not.toContain(userAction);
      expect(shown).not.toContain(keyBody);
    }
    expect((error as DfnsApiError).dfnsMessage).toBe('token [redacted] lacks Auth:Pats:Update');
  });

  it('reuses keep-alive connections across deactivations', async () => {
    await account.client.deactivatePat(sandbox.addPat().tokenId); // warm the pool
    const before = sandbox.connections;
    for (let i = 0; i < 5; i += 1) await account.client.deactivatePat(sandbox.addPat().tokenId);
    expect(sandbox.requestCount).toBe(18);
    expect(sandbox.connections).toBe(before);
  });

  it('a replayed PUT with a used user action is refused with 400 "already used"', async () => {
    const { tokenId } = sandbox.addPat();
    await account.client.deactivatePat(tokenId);
    const put = sandbox.requestsTo('deactivate')[0]!;
    sandbox.setActive(tokenId, true);
    const replay = await call(sandbox, 'PUT', put.path, account.secret.authToken, put.body, {
      'x-dfns-useraction': put.headers['x-dfns-useraction']!,
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error.message).toMatch(/already been used/);
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('refuses an API URL that is not an origin', () => {
    const credential = { authToken: 't', credId: 'c', key: SigningKey.fromPem(account.secret.privateKey) };
    for (const apiUrl of ['https://api.dfns.io/v1', 'api.dfns.io', 'ftp://api.dfns.io', 'https://api.dfns.io/?x=1']) {
      expect(() => new DfnsClient({ apiUrl, credential })).toThrow(TypeError);
    }
    expect(() => new DfnsClient({ apiUrl: 'https://api.dfns.io/', credential, requestTimeoutMs: 0 })).toThrow(
      /requestTimeoutMs/,
    );
  });
});

describe('every key type and PEM shape is accepted by the sandbox', () => {
  const formats = keysInEveryFormat();
  const cases = formats.flatMap((key) =>
    Object.entries(PEM_SHAPES).map(([shape, apply]) => [`${key.kind} ${key.format}, ${shape}`, key, apply] as const),
  );
  it.each(cases)('%s', async (_name, key, apply) => {
    const { authToken, credId } = sandbox.createServiceAccount({ publicKeyPem: key.publicKeyPem });
    const client = clientFor(sandbox, { authToken, credId, privateKey: apply(key.privateKeyPem) });
    const { tokenId } = sandbox.addPat();
    await expect(client.deactivatePat(tokenId)).resolves.toMatchObject({ isActive: false });
    expect(sandbox.isActive(tokenId)).toBe(false);
  });
});

describe('hardening', () => {
  it('never echoes what the far end controls unless it has the expected shape: header values, ids, token IDs', async () => {
    const { tokenId } = sandbox.addPat();
    const bearer = account.secret.authToken;
    // A proxy that reflects the request's Authorization into its Content-Type.
    sandbox.injectFault({
      route: 'init',
      respond: {
        status: 502,
        headers: { 'content-type': `text/html; Bearer ${bearer}` },
        body: '<html>bad gateway</html>',
      },
    });
    const reflected = (await thrown(() => account.client.deactivatePat(tokenId))) as DfnsApiError;
    expect(reflected.message).toMatch(/text\/html, 24 bytes/);
    sandbox.injectFault({
      route: 'init',
      respond: { status: 502, headers: { 'content-type': `Bearer ${bearer}` }, body: '' },
    });
    const odd = (await thrown(() => account.client.deactivatePat(tokenId))) as DfnsApiError;
    expect(odd.message).toMatch(/an unusual content-type, 0 bytes/);
    for (const error of [reflected, odd]) expect(error.message).not.toContain(bearer.slice(10, 40));

    sandbox.injectFault({ route: 'deactivate', respond: { status: 202, body: { id: `ap-1 ${bearer}` } } });
    const held = (await thrown(() => account.client.deactivatePat(tokenId))) as {
      approvalId?: string;
      message: string;
    };
    expect(held.approvalId).toBeUndefined();
    expect(held.message).not.toContain(bearer.slice(10, 40));

    const pat = sandbox.pat(tokenId)!;
    sandbox.injectFault({
      route: 'deactivate',
      respond: { status: 200, body: { ...pat, isActive: false, tokenId: bearer } },
    });
    const other = await thrown(() => account.client.deactivatePat(tokenId));
    expect(other.message).toMatch(/answer is about another token \(not a token ID\)/);
    expect(other.message).not.toContain(bearer.slice(10, 40));
  });

  it('redacts an echoed bearer token before cutting the message, whatever its length', async () => {
    // Real Dfns JWTs are long; the cut at 300 characters must never leave a piece of one.
    const authToken = `eyJ${'a'.repeat(400)}.${'b'.repeat(400)}.${'c'.repeat(86)}`;
    const secret = sandbox.createServiceAccount({ kind: 'ed25519', authToken });
    const client = clientFor(sandbox, secret);
    sandbox.injectFault({ route: 'init', respond: dfnsError(403, `${'x'.repeat(260)} ${authToken}`) });
    const error = (await thrown(() => client.deactivatePat(newTokenId()))) as DfnsApiError;
    expect(error.dfnsMessage.length).toBeLessThanOrEqual(300);
    for (let i = 0; i + 12 <= authToken.length; i += 6) expect(error.message).not.toContain(authToken.slice(i, i + 12));
    expect(error.dfnsMessage).toMatch(/\[redacted\]$/);
  });

  it('redacts a piece of the bearer token or of the user action that Dfns quotes', async () => {
    const { tokenId } = sandbox.addPat();
    const piece = account.secret.authToken.slice(40, 110);
    sandbox.injectFault({ route: 'init', respond: dfnsError(401, `token …${piece}… expired`) });
    const atInit = (await thrown(() => account.client.deactivatePat(tokenId))) as DfnsApiError;
    expect(atInit.dfnsMessage).toBe('token …[redacted]… expired');

    sandbox.injectFault({
      route: 'deactivate',
      respond: {
        status: 400,
        body: (request: RecordedRequest) =>
          errorBody(400, `user action ${request.headers['x-dfns-useraction']!.slice(3, 30)} already used`),
      },
    });
    const atPut = (await thrown(() => account.client.deactivatePat(tokenId))) as DfnsApiError;
    expect(atPut.dfnsMessage).toBe('user action [redacted] already used');
  });

  it('keeps at most 300 characters of a Dfns message', async () => {
    sandbox.injectFault({ route: 'init', respond: dfnsError(500, 'y'.repeat(5000)) });
    const error = (await thrown(() => account.client.deactivatePat(newTokenId()))) as DfnsApiError;
    expect(error.dfnsMessage).toBe('y'.repeat(300));
  });

  it('refuses an authToken that cannot be an HTTP header value, without showing it', () => {
    const secret = { ...account.secret, authToken: 'eyJhbGciOi\nJFZERTQSJ9.secret-part' };
    let caught: unknown;
    try {
      clientFor(sandbox, secret);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect(String(caught)).toMatch(/authToken must be one line of printable ASCII/);
    expect(String(caught)).not.toContain('secret-part');
  });

  it('redacts the bearer token from a transport error, whole or in part', async () => {
    const token = account.secret.authToken;
    for (const leak of [`invalid header value "Bearer ${token}"`, `header ${token.slice(5, 60)} refused`]) {
      const leaky = async () => {
        throw Object.assign(new Error(leak), { code: 'ERR_INVALID_CHAR' });
      };
      const client = clientFor(sandbox, account.secret, { transport: leaky });
      const error = await thrown(() => client.deactivatePat(newTokenId()));
      expect(error).toMatchObject({ name: 'DfnsNetworkError', code: 'ERR_INVALID_CHAR' });
      expect(error.message).not.toContain(token.slice(5, 60));
      expect(error.message).toContain('[redacted]');
    }
  });

  it('names itself: User-Agent pat-revoker and Accept application/json on every request (WAFs refuse anonymous calls)', async () => {
    sandbox.requests.length = 0;
    await account.client.deactivatePat(sandbox.addPat().tokenId);
    expect(sandbox.requests.map((r) => [r.headers['user-agent'], r.headers.accept])).toEqual(
      Array.from({ length: 3 }, () => ['pat-revoker', 'application/json']),
    );
  });

  it('speaks TLS to an https origin: a plain-http server there is a network error, not an answer', async () => {
    const { tokenId } = sandbox.addPat();
    const client = clientFor(sandbox, account.secret, { apiUrl: sandbox.url.replace('http:', 'https:') });
    const error = await thrown(() => client.deactivatePat(tokenId));
    expect(error).toMatchObject({ name: 'DfnsNetworkError', step: 'init' });
    expect((error as DfnsNetworkError).code).toBe('EPROTO'); // the TLS handshake met plain HTTP
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('never follows a redirect: the bearer and user action stay with Dfns', async () => {
    const elsewhere = await startSandbox();
    try {
      const { tokenId } = sandbox.addPat();
      sandbox.injectFault({
        route: 'deactivate',
        respond: { status: 307, headers: { location: `${elsewhere.url}/auth/pats/${tokenId}/deactivate` } },
      });
      const error = await thrown(() => account.client.deactivatePat(tokenId));
      expect(error).toMatchObject({ name: 'DfnsApiError', status: 307, step: 'deactivate' });
      expect(elsewhere.requestCount).toBe(0);
      expect(sandbox.isActive(tokenId)).toBe(true);
    } finally {
      await elsewhere.close();
    }
  });

  it('refuses an answer about another token', async () => {
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({
      route: 'deactivate',
      respond: { status: 200, body: { tokenId: newTokenId(), isActive: false } },
    });
    const error = await thrown(() => account.client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(DfnsResponseError);
    expect(error.message).toMatch(/another token/);
  });

  it('treats a 202 at init or action as unusable, not as pending approval', async () => {
    for (const route of ['init', 'action'] as const) {
      sandbox.injectFault({ route, respond: { status: 202, body: { id: 'ap-1' } } });
      const error = await thrown(() => account.client.deactivatePat(sandbox.addPat().tokenId));
      expect(error).toBeInstanceOf(DfnsResponseError);
      expect(error).toMatchObject({ step: route, status: 202 });
    }
  });

  it('does not show the credential when the client is logged or serialised', () => {
    const shown = [inspect(account.client, { depth: 10, showHidden: true }), JSON.stringify(account.client)];
    for (const text of shown) {
      expect(text).not.toContain(account.secret.authToken);
      expect(text).not.toContain(account.secret.credId);
    }
  });

  it('refuses plain http except on loopback, and timeouts beyond a Lambda invocation', () => {
    const credential = { authToken: 't', credId: 'c', key: SigningKey.fromPem(account.secret.privateKey) };
    expect(() => new DfnsClient({ apiUrl: 'http://api.dfns.io', credential })).toThrow(/plain http: only on loopback/);
    expect(() => new DfnsClient({ apiUrl: 'http://localhost:1', credential })).not.toThrow();
    expect(() => new DfnsClient({ apiUrl: sandbox.url, credential, requestTimeoutMs: 2 ** 31 })).toThrow(/1 to 900000/);
  });

  it.each([
    ['stalls', 'hang', DfnsTimeoutError],
    ['resets', 'reset', DfnsNetworkError],
  ] as const)('fails typed when the answer %s after its headers', async (_name, midBody, type) => {
    const { tokenId } = sandbox.addPat();
    const client = clientFor(sandbox, account.secret, { requestTimeoutMs: 200 });
    sandbox.injectFault({ route: 'deactivate', midBody });
    const error = await thrown(() => client.deactivatePat(tokenId));
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ step: 'deactivate' });
  });
});
