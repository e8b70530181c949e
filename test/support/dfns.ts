/**
 * Test helpers around the sandbox: a service account with a fresh key, our client for it, and a raw signer for
 * requests our client would never send (replays, tampered assertions).
 */
import { DfnsClient, type DfnsClientOptions } from '../../functions/lib/dfns/client.js';
import { SigningKey } from '../../functions/lib/dfns/signing.js';
import type { DfnsSandbox, ServiceAccountSecret } from '../../tools/sandbox/sandbox.js';
import type { KeyKind } from '../../tools/sandbox/ids.js';

/** A registered service account and our client signing with its key. */
export interface TestAccount {
  secret: ServiceAccountSecret;
  client: DfnsClient;
}

/** Registers a service account with a fresh key of `kind` and builds our client for it. */
export function accountWithClient(
  sandbox: DfnsSandbox,
  kind: KeyKind = 'ed25519',
  options: Partial<DfnsClientOptions> = {},
): TestAccount {
  const secret = sandbox.createServiceAccount({ kind });
  return { secret, client: clientFor(sandbox, secret, options) };
}

/** Our client for an existing credential secret. */
export function clientFor(
  sandbox: DfnsSandbox,
  secret: ServiceAccountSecret,
  options: Partial<DfnsClientOptions> = {},
): DfnsClient {
  return new DfnsClient({
    apiUrl: sandbox.url,
    credential: { authToken: secret.authToken, credId: secret.credId, key: SigningKey.fromPem(secret.privateKey) },
    ...options,
  });
}

/** A request to the sandbox with a bearer, returning status and body (parsed when it is JSON). */
export async function call(
  sandbox: DfnsSandbox,
  method: string,
  path: string,
  authToken: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${authToken}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return { status: response.status, body: text };
  }
}

/** Runs init for a deactivation of `tokenId` and returns the challenge answer. */
export async function initFor(
  sandbox: DfnsSandbox,
  secret: ServiceAccountSecret,
  tokenId: string,
  payload = '{}',
): Promise<{ status: number; body: any }> {
  return call(
    sandbox,
    'POST',
    '/auth/action/init',
    secret.authToken,
    JSON.stringify({
      userActionPayload: payload,
      userActionHttpMethod: 'PUT',
      userActionHttpPath: `/auth/pats/${tokenId}/deactivate`,
      userActionServerKind: 'Api',
    }),
  );
}

/**
 * Signs a challenge and posts the assertion, letting the test tamper with the signature bytes or their encoding.
 */
export async function actWith(
  sandbox: DfnsSandbox,
  secret: ServiceAccountSecret,
  challenge: { challenge: string; challengeIdentifier: string },
  tamper: { signature?: (clientData: string) => string; clientData?: string } = {},
): Promise<{ status: number; body: any }> {
  const clientData = tamper.clientData ?? JSON.stringify({ type: 'key.get', challenge: challenge.challenge });
  const signature = tamper.signature
    ? tamper.signature(clientData)
    : SigningKey.fromPem(secret.privateKey).sign(clientData);
  return call(
    sandbox,
    'POST',
    '/auth/action',
    secret.authToken,
    JSON.stringify({
      challengeIdentifier: challenge.challengeIdentifier,
      firstFactor: {
        kind: 'Key',
        credentialAssertion: {
          credId: secret.credId,
          clientData: Buffer.from(clientData).toString('base64url'),
          signature,
        },
      },
    }),
  );
}

/** Full raw flow up to a user action for deactivating `tokenId`. */
export async function userActionFor(
  sandbox: DfnsSandbox,
  secret: ServiceAccountSecret,
  tokenId: string,
  payload = '{}',
): Promise<string> {
  const init = await initFor(sandbox, secret, tokenId, payload);
  const action = await actWith(sandbox, secret, init.body);
  if (action.status !== 200) throw new Error(`action failed: ${JSON.stringify(action.body)}`);
  return action.body.userAction as string;
}

/** Waits until `predicate` holds (polling), for effects that land asynchronously such as a closed socket. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
