/**
 * The sandbox enforces Dfns' rules: if it accepted what Dfns refuses, every other test would prove nothing.
 * These tests speak raw HTTP to it, sending what a correct client never sends.
 */
import { sign } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { TOKEN_ID_PATTERN } from '../../functions/lib/dfns/client.js';
import { SigningKey } from '../../functions/lib/dfns/signing.js';
import { decodeAccessToken, verifyAccessToken } from '../../tools/sandbox/access-token.js';
import { dfnsId, newTokenId } from '../../tools/sandbox/ids.js';
import { startOrgTraffic } from '../../tools/sandbox/org-traffic.js';
import {
  issuedSecrets,
  startSandbox,
  type DfnsSandbox,
  type ServiceAccountSecret,
} from '../../tools/sandbox/sandbox.js';
import { actWith, call, clientFor, initFor, userActionFor } from '../support/dfns.js';

let sandbox: DfnsSandbox;
let ed: ServiceAccountSecret;
let ec: ServiceAccountSecret;
let rsa: ServiceAccountSecret;

beforeAll(async () => {
  sandbox = await startSandbox();
  ed = sandbox.createServiceAccount({ kind: 'ed25519' });
  ec = sandbox.createServiceAccount({ kind: 'p256' });
  rsa = sandbox.createServiceAccount({ kind: 'rsa' });
});
afterAll(async () => sandbox.close());
beforeEach(() => {
  sandbox.faults.clear();
  sandbox.resetRecording();
});

const put = (secret: ServiceAccountSecret, tokenId: string, userAction: string, body = '{}', path?: string) =>
  call(sandbox, 'PUT', path ?? `/auth/pats/${tokenId}/deactivate`, secret.authToken, body, {
    'x-dfns-useraction': userAction,
  });

describe('bearer token', () => {
  it.each([
    ['missing', {}],
    ['unknown', { authorization: 'Bearer nope' }],
    ['not a bearer', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
  ])('answers 401 with a Dfns error body when the bearer is %s', async (_name, headers) => {
    for (const [method, path] of [
      ['POST', '/auth/action/init'],
      ['POST', '/auth/action'],
      ['PUT', `/auth/pats/${newTokenId()}/deactivate`],
      ['GET', `/auth/pats/${newTokenId()}`],
    ] as const) {
      const response = await fetch(`${sandbox.url}${path}`, {
        method,
        headers,
        ...(method === 'GET' ? {} : { body: '{}' }),
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: { message: expect.stringMatching(/Unauthorized/), status: 401 } });
    }
  });

  it('stops accepting a revoked service-account token', async () => {
    const secret = sandbox.createServiceAccount({ kind: 'ed25519' });
    expect((await initFor(sandbox, secret, newTokenId())).status).toBe(200);
    sandbox.revokeAuthToken(secret.authToken);
    expect((await initFor(sandbox, secret, newTokenId())).status).toBe(401);
  });
});

describe('signature verification', () => {
  it.each([
    ['Ed25519', () => ed],
    ['P-256', () => ec],
    ['RSA', () => rsa],
  ])('accepts a correct %s signature', async (_name, secret) => {
    const init = await initFor(sandbox, secret(), newTokenId());
    const action = await actWith(sandbox, secret(), init.body);
    expect(action.status).toBe(200);
    expect(action.body.userAction).toEqual(expect.any(String));
  });

  it('refuses a raw r‖s (IEEE-P1363) ECDSA signature', async () => {
    const init = await initFor(sandbox, ec, newTokenId());
    const action = await actWith(sandbox, ec, init.body, {
      signature: (clientData) =>
        sign('sha256', Buffer.from(clientData), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString(
          'base64url',
        ),
    });
    expect(action).toEqual({ status: 401, body: { error: { message: 'Invalid signature', status: 401 } } });
  });

  it('refuses a signature in padded standard base64', async () => {
    // A P-256 DER signature is 70–72 bytes, so its base64 form is padded in two cases out of three; retry until it is.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const init = await initFor(sandbox, ec, newTokenId());
      const padded = sign(
        'sha256',
        Buffer.from(JSON.stringify({ type: 'key.get', challenge: init.body.challenge })),
        ec.privateKey,
      ).toString('base64');
      if (!padded.endsWith('=')) continue;
      const action = await actWith(sandbox, ec, init.body, { signature: () => padded });
      expect(action.status).toBe(401);
      expect(action.body.error.message).toMatch(/base64url without padding/);
      return;
    }
    throw new Error('no padded signature in 20 attempts');
  });

  it('refuses clientData in padded standard base64', async () => {
    const init = await initFor(sandbox, ed, newTokenId());
    // {"type":"key.get","challenge":"<43 chars>"} is 75 bytes: its base64 form always ends in "=".
    const clientData = JSON.stringify({ type: 'key.get', challenge: init.body.challenge });
    const response = await call(
      sandbox,
      'POST',
      '/auth/action',
      ed.authToken,
      JSON.stringify({
        challengeIdentifier: init.body.challengeIdentifier,
        firstFactor: {
          kind: 'Key',
          credentialAssertion: {
            credId: ed.credId,
            clientData: Buffer.from(clientData).toString('base64'),
            signature: SigningKey.fromPem(ed.privateKey).sign(clientData),
          },
        },
      }),
    );
    expect(Buffer.from(clientData).toString('base64')).toMatch(/=$/);
    expect(response).toMatchObject({ status: 401, body: { error: { message: /base64url without padding/ } } });
  });

  it('refuses a signature over other clientData, and clientData for another challenge', async () => {
    const key = SigningKey.fromPem(ed.privateKey);
    const first = await initFor(sandbox, ed, newTokenId());
    const tampered = await actWith(sandbox, ed, first.body, {
      signature: () => key.sign(JSON.stringify({ type: 'key.get', challenge: 'something-else' })),
    });
    expect(tampered).toMatchObject({ status: 401, body: { error: { message: 'Invalid signature' } } });

    const second = await initFor(sandbox, ed, newTokenId());
    const otherChallenge = await actWith(sandbox, ed, second.body, {
      clientData: JSON.stringify({ type: 'key.get', challenge: first.body.challenge }),
    });
    expect(otherChallenge).toMatchObject({ status: 401, body: { error: { message: /challenge mismatch/ } } });

    const third = await initFor(sandbox, ed, newTokenId());
    const wrongType = await actWith(sandbox, ed, third.body, {
      clientData: JSON.stringify({ type: 'webauthn.get', challenge: third.body.challenge }),
    });
    expect(wrongType).toMatchObject({ status: 401, body: { error: { message: /key\.get/ } } });
  });

  it('refuses a credential of another service account, and a removed credential', async () => {
    const init = await initFor(sandbox, ed, newTokenId());
    const foreign = await actWith(sandbox, { ...ed, credId: ec.credId }, init.body);
    expect(foreign).toMatchObject({ status: 401, body: { error: { message: /Credential not found/ } } });

    const rotating = sandbox.createServiceAccount({ kind: 'ed25519' });
    sandbox.removeCredential(rotating.authToken, rotating.credId);
    const noKey = await initFor(sandbox, rotating, newTokenId());
    expect(noKey.body.allowCredentials.key).toEqual([]);
    expect((await actWith(sandbox, rotating, noKey.body)).status).toBe(401);
  });
});

describe('challenges', () => {
  it('are single-use: a second assertion on the same challenge is 400 "already been used"', async () => {
    const init = await initFor(sandbox, ed, newTokenId());
    expect((await actWith(sandbox, ed, init.body)).status).toBe(200);
    const again = await actWith(sandbox, ed, init.body);
    expect(again).toMatchObject({ status: 400, body: { error: { message: 'Challenge has already been used' } } });
  });

  it('expire', async () => {
    const short = await startSandbox({ challengeTtlMs: 20 });
    try {
      const secret = short.createServiceAccount({ kind: 'ed25519' });
      const init = await initFor(short, secret, newTokenId());
      await sleep(40);
      expect(await actWith(short, secret, init.body)).toMatchObject({
        status: 400,
        body: { error: { message: 'Challenge has expired' } },
      });
    } finally {
      await short.close();
    }
  });

  it('are bound to the caller that asked for them', async () => {
    const init = await initFor(sandbox, ed, newTokenId());
    const other = sandbox.createServiceAccount({ kind: 'ed25519' });
    const stolen = await actWith(sandbox, other, init.body);
    expect(stolen).toMatchObject({ status: 403, body: { error: { message: /another caller/ } } });
  });

  it('reject an unknown identifier and malformed init requests', async () => {
    expect(await actWith(sandbox, ed, { challenge: 'x', challengeIdentifier: 'nope' })).toMatchObject({ status: 400 });
    for (const body of ['not json', '[]', JSON.stringify({ userActionHttpMethod: 'PUT', userActionHttpPath: '/x' })]) {
      expect((await call(sandbox, 'POST', '/auth/action/init', ed.authToken, body)).status).toBe(400);
    }
  });
});

describe('user actions', () => {
  it('deactivate exactly the token, method, path and payload they were signed for', async () => {
    const { tokenId } = sandbox.addPat();
    const userAction = await userActionFor(sandbox, ed, tokenId);
    const response = await put(ed, tokenId, userAction);
    expect(response).toMatchObject({ status: 200, body: { tokenId, isActive: false } });
    expect(sandbox.isActive(tokenId)).toBe(false);
  });

  it('are single-use: a replay is 400 "already been used"', async () => {
    const { tokenId } = sandbox.addPat();
    const userAction = await userActionFor(sandbox, ed, tokenId);
    expect((await put(ed, tokenId, userAction)).status).toBe(200);
    sandbox.setActive(tokenId, true);
    expect(await put(ed, tokenId, userAction)).toMatchObject({
      status: 400,
      body: { error: { message: 'User action has already been used' } },
    });
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('are refused (403) for another token, another payload, another caller, or when missing', async () => {
    const a = sandbox.addPat().tokenId;
    const b = sandbox.addPat().tokenId;
    expect(await put(ed, b, await userActionFor(sandbox, ed, a))).toMatchObject({
      status: 403,
      body: { error: { message: /another method or path/ } },
    });
    expect(await put(ed, a, await userActionFor(sandbox, ed, a, ''))).toMatchObject({
      status: 403,
      body: { error: { message: /payload does not match/ } },
    });
    const other = sandbox.createServiceAccount({ kind: 'ed25519' });
    expect((await put(other, a, await userActionFor(sandbox, ed, a))).status).toBe(403);
    expect((await call(sandbox, 'PUT', `/auth/pats/${a}/deactivate`, ed.authToken, '{}')).status).toBe(403);
    expect((await put(ed, a, 'ua.forged')).status).toBe(403);
    expect(sandbox.isActive(a)).toBe(true);
    expect(sandbox.isActive(b)).toBe(true);
  });

  it('are refused for another method than the one signed', async () => {
    const { tokenId } = sandbox.addPat();
    const init = await call(
      sandbox,
      'POST',
      '/auth/action/init',
      ed.authToken,
      JSON.stringify({
        userActionPayload: '{}',
        userActionHttpMethod: 'DELETE',
        userActionHttpPath: `/auth/pats/${tokenId}/deactivate`,
        userActionServerKind: 'Api',
      }),
    );
    const action = await actWith(sandbox, ed, init.body);
    expect(await put(ed, tokenId, action.body.userAction)).toMatchObject({
      status: 403,
      body: { error: { message: /another method or path/ } },
    });
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('are consumed by a PUT that answers 404: a replay is "already used"', async () => {
    const tokenId = newTokenId();
    const userAction = await userActionFor(sandbox, ed, tokenId);
    expect((await put(ed, tokenId, userAction)).status).toBe(404);
    sandbox.addPat({ tokenId });
    expect(await put(ed, tokenId, userAction)).toMatchObject({
      status: 400,
      body: { error: { message: /already been used/ } },
    });
    expect(sandbox.isActive(tokenId)).toBe(true);
  });

  it('are refused for a path that differs only by a query string', async () => {
    const { tokenId } = sandbox.addPat();
    const userAction = await userActionFor(sandbox, ed, tokenId);
    const response = await put(ed, tokenId, userAction, '{}', `/auth/pats/${tokenId}/deactivate?force=true`);
    expect(response.status).toBe(403);
  });

  it('expire', async () => {
    const short = await startSandbox({ userActionTtlMs: 20 });
    try {
      const secret = short.createServiceAccount({ kind: 'ed25519' });
      const { tokenId } = short.addPat();
      const userAction = await userActionFor(short, secret, tokenId);
      await sleep(40);
      const response = await call(short, 'PUT', `/auth/pats/${tokenId}/deactivate`, secret.authToken, '{}', {
        'x-dfns-useraction': userAction,
      });
      expect(response).toMatchObject({ status: 400, body: { error: { message: 'User action has expired' } } });
      expect(short.isActive(tokenId)).toBe(true);
    } finally {
      await short.close();
    }
  });
});

describe('PAT store', () => {
  it('answers 404 for an unknown token, on PUT (user action consumed) and GET', async () => {
    const tokenId = newTokenId();
    const userAction = await userActionFor(sandbox, ed, tokenId);
    expect(await put(ed, tokenId, userAction)).toMatchObject({
      status: 404,
      body: { error: { message: `Personal access token ${tokenId} not found`, status: 404 } },
    });
    expect((await call(sandbox, 'GET', `/auth/pats/${tokenId}`, ed.authToken)).status).toBe(404);
  });

  it('reads a PAT with GET', async () => {
    const { accessToken: _shownOnlyAtCreation, ...pat } = sandbox.addPat();
    const response = await fetch(`${sandbox.url}/auth/pats/${pat.tokenId}`, {
      headers: { authorization: `Bearer ${ed.authToken}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(pat);
  });

  it('answers 404 for an unknown route', async () => {
    expect((await call(sandbox, 'POST', '/auth/pats/x/activate', ed.authToken, '{}')).status).toBe(404);
  });
});

describe('access tokens', () => {
  const DAY = 86_400;
  const claimsOf = (token: string) => decodeAccessToken(token).claims as Record<string, any>;

  it("are Dfns' JWTs: EdDSA, a 64-byte Ed25519 signature by the sandbox's key, Dfns' claims in Dfns' order", () => {
    const { header } = decodeAccessToken(ed.authToken);
    expect(header).toEqual({ typ: 'JWT', alg: 'EdDSA' });
    expect(ed.authToken.split('.')[0]).toBe('eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSJ9'); // as every Dfns token starts
    expect(Buffer.from(ed.authToken.split('.')[2]!, 'base64url')).toHaveLength(64);
    expect(verifyAccessToken(ed.authToken, sandbox.accessTokenPublicKey)).toBe(true);
    const forged = ed.authToken.replace(/\.[^.]+\./, `.${Buffer.from('{"sub":"or-x"}').toString('base64url')}.`);
    expect(verifyAccessToken(forged, sandbox.accessTokenPublicKey)).toBe(false);
    expect(Object.keys(claimsOf(ed.authToken))).toEqual([
      'iss',
      'aud',
      'sub',
      'jti',
      'https://custom/username',
      'https://custom/app_metadata',
      'iat',
      'exp',
    ]);
  });

  it('of a service account: sub the organisation, jti its token ID, userId its user, valid 730 days', () => {
    const secret = sandbox.createServiceAccount({ kind: 'ed25519', name: 'pat-revoker prod' });
    const tokenId = sandbox.tokenIdOf(secret.authToken);
    expect(tokenId).toMatch(TOKEN_ID_PATTERN);
    expect(Object.keys(secret)).toEqual(['authToken', 'credId', 'privateKey']); // the secret stays the CONTRACT shape
    const claims = claimsOf(secret.authToken);
    expect(claims).toEqual({
      iss: 'auth.dfns.io',
      aud: 'dfns:auth:user',
      sub: sandbox.orgId,
      jti: tokenId,
      'https://custom/username': 'pat-revoker prod',
      'https://custom/app_metadata': {
        userId: expect.stringMatching(/^us-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{16}$/),
        orgId: sandbox.orgId,
        tokenKind: 'ServiceAccount',
      },
      iat: expect.any(Number),
      exp: claims.iat + 730 * DAY,
    });
    expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(60);
    expect(sandbox.pat(tokenId)).toMatchObject({
      tokenId,
      kind: 'ServiceAccount',
      isActive: true,
      name: 'pat-revoker prod',
      linkedUserId: claims['https://custom/app_metadata'].userId,
      orgId: sandbox.orgId,
    });
    expect(sandbox.accessTokenOf(tokenId)).toBe(secret.authToken);
  });

  it('of a PAT: jti its token ID, userId its owner, tokenKind Pat; a bearer that reads but cannot sign', async () => {
    const pat = sandbox.addPat({ linkedUserId: dfnsId('us', 16) });
    expect(claimsOf(pat.accessToken)).toMatchObject({
      sub: sandbox.orgId,
      jti: pat.tokenId,
      'https://custom/username': expect.stringMatching(/@/),
      'https://custom/app_metadata': { userId: pat.linkedUserId, orgId: sandbox.orgId, tokenKind: 'Pat' },
    });
    expect(verifyAccessToken(pat.accessToken, sandbox.accessTokenPublicKey)).toBe(true);
    expect(sandbox.tokenIdOf(pat.accessToken)).toBe(pat.tokenId);
    expect(sandbox.accessTokenOf(pat.tokenId)).toBe(pat.accessToken);

    const asPat = { authToken: pat.accessToken, credId: ed.credId, privateKey: ed.privateKey };
    expect((await call(sandbox, 'GET', `/auth/pats/${pat.tokenId}`, pat.accessToken)).status).toBe(200);
    const init = await initFor(sandbox, asPat, newTokenId());
    expect(init.body.allowCredentials.key).toEqual([]);
    expect(await actWith(sandbox, asPat, init.body)).toMatchObject({ status: 401 });

    // Revoked, the leaked value is worth nothing.
    expect((await put(ed, pat.tokenId, await userActionFor(sandbox, ed, pat.tokenId))).status).toBe(200);
    expect((await call(sandbox, 'GET', `/auth/pats/${pat.tokenId}`, pat.accessToken)).status).toBe(401);
  });

  it('of seeded PATs are issued only when asked for, once', () => {
    const before = issuedSecrets().size;
    const [tokenId] = sandbox.seedPats(3) as [string];
    expect(issuedSecrets().size).toBe(before);
    const accessToken = sandbox.accessTokenOf(tokenId);
    expect(sandbox.accessTokenOf(tokenId)).toBe(accessToken);
    expect(claimsOf(accessToken)).toMatchObject({ jti: tokenId, 'https://custom/app_metadata': { tokenKind: 'Pat' } });
    expect(issuedSecrets().size).toBe(before + 1);
    expect(() => sandbox.accessTokenOf(newTokenId())).toThrow(/unknown token/);
  });

  it('of another organisation, or naming no token ID, for tests; none of them is a bearer here', async () => {
    const foreignOrg = dfnsId('or', 16);
    const foreign = sandbox.accessTokenFor({ orgId: foreignOrg });
    expect(claimsOf(foreign)).toMatchObject({
      sub: foreignOrg,
      jti: expect.stringMatching(TOKEN_ID_PATTERN),
      'https://custom/app_metadata': { orgId: foreignOrg, tokenKind: 'Pat' },
    });

    // A login token, as Dfns issues them: jti a uj- ID, userId the user, valid 6 hours.
    const login = claimsOf(sandbox.accessTokenFor({ tokenKind: 'Token' }));
    expect(login).toMatchObject({
      sub: sandbox.orgId,
      jti: expect.stringMatching(/^uj-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{16}$/),
      'https://custom/app_metadata': { userId: expect.stringMatching(/^us-/), tokenKind: 'Token' },
    });
    expect(login.exp - login.iat).toBe(6 * 3600);
    expect(JSON.stringify(login)).not.toMatch(/"to-/);

    // Anything else a test needs: the fallbacks of the own-token rule, a claim removed, a token already expired.
    const tokenId = newTokenId();
    const odd = claimsOf(
      sandbox.accessTokenFor({
        claims: { jti: undefined },
        appMetadata: { tokenId },
        issuedAt: new Date(Date.now() - 2 * DAY * 1000),
        lifetimeSeconds: DAY,
      }),
    );
    expect(odd.jti).toBeUndefined();
    expect(odd['https://custom/app_metadata']).toMatchObject({ orgId: sandbox.orgId, tokenId });
    expect(odd.exp * 1000).toBeLessThan(Date.now());

    expect((await call(sandbox, 'GET', `/auth/pats/${tokenId}`, foreign)).status).toBe(401);
  });

  it('are all in issuedSecrets(), which the suite scans every test output for', () => {
    const secret = sandbox.createServiceAccount({ kind: 'ed25519' });
    const tokens = [
      secret.authToken,
      sandbox.addPat().accessToken,
      sandbox.accessTokenFor({ orgId: dfnsId('or', 16) }),
      sandbox.accessTokenFor({ tokenKind: 'Token' }),
    ];
    for (const token of tokens) expect(issuedSecrets().has(token)).toBe(true);
  });

  it('never appear in an answer of the API', async () => {
    const pat = sandbox.addPat();
    const own = sandbox.tokenIdOf(ed.authToken);
    const answers = [
      await call(sandbox, 'GET', `/auth/pats/${pat.tokenId}`, ed.authToken),
      await call(sandbox, 'GET', `/auth/pats/${own}`, ed.authToken),
      await put(ed, pat.tokenId, await userActionFor(sandbox, ed, pat.tokenId)),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const secrets = [...issuedSecrets()];
    for (const { body } of answers) {
      expect(body).not.toHaveProperty('accessToken');
      const text = JSON.stringify(body);
      expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
    }
    expect(sandbox.pat(pat.tokenId)).not.toHaveProperty('accessToken');
  });
});

describe("a service account's own token", () => {
  it('deactivated with PUT /auth/pats/{its ID}/deactivate, answers 401 to every request from then on', async () => {
    const self = sandbox.createServiceAccount({ kind: 'ed25519' });
    const tokenId = sandbox.tokenIdOf(self.authToken);
    const userAction = await userActionFor(sandbox, self, tokenId);
    expect(await put(self, tokenId, userAction)).toMatchObject({
      status: 200,
      body: { tokenId, kind: 'ServiceAccount', isActive: false },
    });
    expect(sandbox.isActive(tokenId)).toBe(false);
    expect((await initFor(sandbox, self, newTokenId())).status).toBe(401);
    expect(await call(sandbox, 'GET', `/auth/pats/${tokenId}`, self.authToken)).toMatchObject({
      status: 401,
      body: { error: { message: /Unauthorized/ } },
    });
    // Others are not affected, and switching it back on lets it in again.
    expect((await initFor(sandbox, ed, newTokenId())).status).toBe(200);
    sandbox.setActive(tokenId, true);
    expect((await initFor(sandbox, self, newTokenId())).status).toBe(200);
  });

  it('can be switched off by another account, and has a token ID whatever bearer the test chose', async () => {
    const chosen = sandbox.createServiceAccount({
      kind: 'ed25519',
      authToken: `opaque-${newTokenId()}`,
      tokenId: 'to-aaaaa-bbbbb-cccccccccccccccc',
    });
    expect(sandbox.tokenIdOf(chosen.authToken)).toBe('to-aaaaa-bbbbb-cccccccccccccccc');
    expect(issuedSecrets().has(chosen.authToken)).toBe(true);
    const tokenId = sandbox.tokenIdOf(chosen.authToken);
    expect((await put(ed, tokenId, await userActionFor(sandbox, ed, tokenId))).status).toBe(200);
    expect((await initFor(sandbox, chosen, newTokenId())).status).toBe(401);
  });
});

describe('scripted faults', () => {
  it('apply to the next `times` matching requests of their route, then stop', async () => {
    sandbox.injectFault({ route: 'init', times: 2, respond: { status: 503, body: 'busy' } });
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await initFor(sandbox, ed, newTokenId())).status);
    expect(statuses).toEqual([503, 503, 200]);
    expect(sandbox.faults.pending).toBe(0);
  });

  it('can target one token, at init as at the PUT', async () => {
    const target = sandbox.addPat().tokenId;
    const other = sandbox.addPat().tokenId;
    sandbox.injectFault({ route: 'init', tokenId: target, respond: { status: 500 } });
    expect((await initFor(sandbox, ed, other)).status).toBe(200);
    expect((await initFor(sandbox, ed, target)).status).toBe(500);
  });

  it('after processing: the work is done although the client sees the failure', async () => {
    const client = clientFor(sandbox, ed);
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'deactivate', afterProcessing: true, respond: { status: 500 } });
    await expect(client.deactivatePat(tokenId)).rejects.toMatchObject({ status: 500 });
    expect(sandbox.isActive(tokenId)).toBe(false);
  });

  it('delay answers correctly but late; latency applies to every request', async () => {
    const client = clientFor(sandbox, ed);
    const { tokenId } = sandbox.addPat();
    sandbox.injectFault({ route: 'action', delayMs: 30 });
    await expect(client.deactivatePat(tokenId)).resolves.toMatchObject({ isActive: false });
    expect(sandbox.requestsTo('action')[0]!.fault).toEqual({ route: 'action', delayMs: 30 });

    const slow = await startSandbox({ latencyMs: 15 });
    try {
      const started = performance.now();
      await clientFor(slow, slow.createServiceAccount({ kind: 'ed25519' })).deactivatePat(slow.addPat().tokenId);
      // Three sequential requests each wait the latency: a lower bound, not a timing assertion on our code.
      expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    } finally {
      await slow.close();
    }
  });

  it('can target one token at the action step too (the challenge knows which path it signs)', async () => {
    const client = clientFor(sandbox, ed);
    const [target, other] = sandbox.seedPats(2) as [string, string];
    sandbox.injectFault({ route: 'action', tokenId: target, respond: { status: 429 } });
    await expect(client.deactivatePat(other)).resolves.toMatchObject({ isActive: false });
    await expect(client.deactivatePat(target)).rejects.toMatchObject({ status: 429, step: 'action' });
    expect(sandbox.faults.pending).toBe(0);
  });

  it('survives a malformed percent-encoding and keeps serving', async () => {
    const bad = await call(sandbox, 'PUT', '/auth/pats/%E0%A4%A/deactivate', ed.authToken, '{}');
    expect(bad.status).toBe(403); // no user action: refused, not crashed
    const init = await call(
      sandbox,
      'POST',
      '/auth/action/init',
      ed.authToken,
      JSON.stringify({
        userActionPayload: '{}',
        userActionHttpMethod: 'PUT',
        userActionHttpPath: '/auth/pats/%E0%A4%A/deactivate',
      }),
    );
    expect(init.status).toBe(200);
    expect((await initFor(sandbox, ed, newTokenId())).status).toBe(200);
  });

  it('refuses a fault with two behaviours', () => {
    expect(() => sandbox.injectFault({ route: 'init', hang: true, reset: true })).toThrow(/at most one/);
  });
});

describe('the organisation rate limit', () => {
  const tokenId = () => sandbox.seedPats(1)[0] as string;
  const get = (id: string) => call(sandbox, 'GET', `/auth/pats/${id}`, ed.authToken);
  afterAll(() => {
    sandbox.limitRate(undefined);
  });

  it('is off unless asked for', async () => {
    const id = tokenId();
    const answers = await Promise.all(Array.from({ length: 50 }, () => get(id)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });

  it('counts every account and route together, answers 429 in Dfns shape with Retry-After in whole seconds', async () => {
    const limit = sandbox.limitRate({ limit: 4, windowMs: 2_500 })!;
    const id = tokenId();
    expect((await get(id)).status).toBe(200);
    expect((await call(sandbox, 'GET', `/auth/pats/${id}`, ec.authToken)).status).toBe(200);
    expect((await initFor(sandbox, rsa, id)).status).toBe(200);
    expect((await call(sandbox, 'POST', '/nowhere', ed.authToken, '{}')).status).toBe(404);
    const response = await fetch(`${sandbox.url}/auth/pats/${id}`, {
      headers: { authorization: `Bearer ${ed.authToken}` },
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3'); // ≤ 2.5 s until the window has room, rounded up
    expect(await response.json()).toEqual({ error: { message: expect.stringMatching(/request limit/), status: 429 } });
    expect([limit.admitted, limit.refused]).toEqual([4, 1]);
    expect(sandbox.requests.at(-1)).toMatchObject({ status: 429, throttled: true });
  });

  it('does not count refused requests: the window frees up on time however hard a client hammers', async () => {
    const limit = sandbox.limitRate({ limit: 3, windowMs: 600 })!;
    const id = tokenId();
    for (let i = 0; i < 3; i++) expect((await get(id)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await get(id)).status).toBe(429);
    await sleep(650);
    expect((await get(id)).status).toBe(200);
    expect([limit.admitted, limit.refused]).toEqual([4, 20]);
  });

  it.each([
    ['http-date', (value: string | null) => expect(Date.parse(value ?? '')).toBeGreaterThan(Date.now() - 1000)],
    ['none', (value: string | null) => expect(value).toBeNull()],
  ] as const)('can say Retry-After as %s', async (retryAfter, check) => {
    sandbox.limitRate({ limit: 1, windowMs: 5_000, retryAfter });
    const id = tokenId();
    await get(id);
    const response = await fetch(`${sandbox.url}/auth/pats/${id}`, {
      headers: { authorization: `Bearer ${ed.authToken}` },
    });
    expect(response.status).toBe(429);
    check(response.headers.get('retry-after'));
  });

  it("plays the organisation's own traffic through the same counter and reports the 429s it got", async () => {
    const limit = sandbox.limitRate({ limit: 10, windowMs: 1_000 })!;
    const quiet = startOrgTraffic(sandbox, { requestsPerWindow: 5, windowMs: 1_000 });
    await sleep(1_100);
    await quiet.stop();
    expect(quiet.sent).toBeGreaterThanOrEqual(4);
    expect([quiet.throttled, quiet.failed]).toEqual([0, 0]);

    // Someone else floods the limit: now the organisation's own traffic is refused.
    const id = tokenId();
    const traffic = startOrgTraffic(sandbox, { requestsPerWindow: 20, windowMs: 1_000 });
    const flood = setInterval(() => void get(id), 10);
    await sleep(600);
    clearInterval(flood);
    await traffic.stop();
    expect(traffic.throttled).toBeGreaterThan(0);
    expect(limit.refused).toBeGreaterThan(traffic.throttled);
  });
});
