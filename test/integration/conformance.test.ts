/**
 * Conformance with the official Dfns SDK (`@dfns/sdk` + `@dfns/sdk-keysigner` 0.8.3), our reference oracle.
 *
 * 1. The official client deactivates PATs in the sandbox for every key type: if it fails, the sandbox is wrong.
 * 2. For the same token, our client's three requests equal the SDK's in everything but the values Dfns makes random.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DfnsApiClient, DfnsError } from '@dfns/sdk';
import { AsymmetricKeySigner } from '@dfns/sdk-keysigner';
import { generateKey, newTokenId, type KeyKind } from '../../tools/sandbox/ids.js';
import {
  startSandbox,
  type DfnsSandbox,
  type RecordedRequest,
  type ServiceAccountSecret,
} from '../../tools/sandbox/sandbox.js';
import { clientFor } from '../support/dfns.js';

let sandbox: DfnsSandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => sandbox.close());

const KEY_TYPES: [string, KeyKind, string | undefined][] = [
  // The algorithm each key type is used with in Dfns' own keysigner examples.
  ['Ed25519', 'ed25519', undefined],
  ['ECDSA P-256', 'p256', 'SHA256'],
  ['RSA-3072', 'rsa', 'SHA256'],
];

function officialClient(secret: ServiceAccountSecret, algorithm: string | undefined): DfnsApiClient {
  const signer = new AsymmetricKeySigner({
    credId: secret.credId,
    privateKey: secret.privateKey,
    ...(algorithm === undefined ? {} : { algorithm }),
  });
  return new DfnsApiClient({ baseUrl: sandbox.url, authToken: secret.authToken, signer });
}

function accountFor(kind: KeyKind): ServiceAccountSecret {
  const key = generateKey(kind, 3072);
  const { authToken, credId } = sandbox.createServiceAccount({ publicKeyPem: key.publicKeyPem });
  return { authToken, credId, privateKey: key.privateKeyPem };
}

/** Captures the requests `run` makes to the sandbox. */
async function capture(run: () => Promise<unknown>): Promise<RecordedRequest[]> {
  sandbox.resetRecording();
  await run();
  return [...sandbox.requests];
}

/**
 * The parts of one deactivation's requests that must be equal between clients: everything, with the values the
 * server makes random (challenge identifier, challenge, signature, user action) checked against that run's own
 * server answers and replaced by their role.
 */
function comparable(requests: RecordedRequest[]) {
  expect(requests.map((r) => r.route)).toEqual(['init', 'action', 'deactivate']);
  const [init, action, put] = requests as [RecordedRequest, RecordedRequest, RecordedRequest];
  const challenge = init.response as { challenge: string; challengeIdentifier: string };
  const userAction = (action.response as { userAction: string }).userAction;

  const assertion = JSON.parse(action.body).firstFactor.credentialAssertion;
  const clientDataText = Buffer.from(assertion.clientData, 'base64url').toString('utf8');
  const clientData = JSON.parse(clientDataText);
  expect(JSON.parse(action.body).challengeIdentifier).toBe(challenge.challengeIdentifier);
  expect(clientData.challenge).toBe(challenge.challenge);
  expect(put.headers['x-dfns-useraction']).toBe(userAction);

  const actionBody = action.body
    .replace(challenge.challengeIdentifier, '<challengeIdentifier>')
    .replace(assertion.clientData, '<clientData>')
    .replace(assertion.signature, '<signature>');
  const pick = (r: RecordedRequest) => ({
    method: r.method,
    path: r.path,
    authorization: r.headers.authorization,
    'content-type': r.headers['content-type'],
    'x-dfns-useraction': r.headers['x-dfns-useraction'] === undefined ? undefined : '<userAction>',
  });
  return {
    init: { ...pick(init), body: init.body, userActionPayload: JSON.parse(init.body).userActionPayload },
    action: { ...pick(action), body: actionBody },
    clientData: {
      keys: Object.keys(clientData),
      type: clientData.type,
      text: clientDataText.replace(challenge.challenge, '<challenge>'),
    },
    put: { ...pick(put), body: put.body },
  };
}

describe.each(KEY_TYPES)('%s', (_name, kind, algorithm) => {
  let secret: ServiceAccountSecret;
  beforeAll(() => {
    secret = accountFor(kind);
  });

  it('the official SDK deactivates a PAT in the sandbox', async () => {
    const { tokenId } = sandbox.addPat();
    const pat = await officialClient(secret, algorithm).auth.deactivatePersonalAccessToken({ tokenId });
    expect(pat).toMatchObject({ tokenId, isActive: false });
    expect(sandbox.isActive(tokenId)).toBe(false);
  });

  it('the official SDK meets the same 404 for an unknown token', async () => {
    const tokenId = newTokenId();
    const error = await officialClient(secret, algorithm)
      .auth.deactivatePersonalAccessToken({ tokenId })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DfnsError);
    expect(error).toMatchObject({ httpStatus: 404 });
  });

  it("our client's requests equal the SDK's for the same token", async () => {
    const { tokenId } = sandbox.addPat();
    const sdk = await capture(() => officialClient(secret, algorithm).auth.deactivatePersonalAccessToken({ tokenId }));
    expect(sandbox.isActive(tokenId)).toBe(false);
    sandbox.setActive(tokenId, true);
    const ours = await capture(() => clientFor(sandbox, secret).deactivatePat(tokenId));
    expect(sandbox.isActive(tokenId)).toBe(false);

    const expected = comparable(sdk);
    expect(comparable(ours)).toEqual(expected);
    // Pin what both send, so a change in either is visible here.
    expect(expected.init.body).toBe(
      `{"userActionPayload":"{}","userActionHttpMethod":"PUT","userActionHttpPath":"/auth/pats/${tokenId}/deactivate","userActionServerKind":"Api"}`,
    );
    expect(expected.put.body).toBe('{}');
    expect(expected.clientData).toEqual({
      keys: ['type', 'challenge'],
      type: 'key.get',
      text: '{"type":"key.get","challenge":"<challenge>"}',
    });
    expect(expected.put['content-type']).toBe('application/json');
    expect(expected.put.authorization).toBe(`Bearer ${secret.authToken}`);
  });
});
