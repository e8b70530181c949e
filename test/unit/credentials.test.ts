/**
 * Error paths of credential loading, with a mocked Secrets Manager client (the happy path and rotation run against
 * a loopback Secrets Manager in test/integration/handler.test.ts).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { CredentialError, parseCredentialSecret, SecretsManagerCredentials } from '../../functions/lib/credentials.js';
import { generateKey } from '../../tools/sandbox/ids.js';

const sm = mockClient(SecretsManagerClient);
afterEach(() => {
  sm.reset();
});

const key = generateKey('ed25519');
const good = {
  authToken: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1cy0xIn0.c2lnbmF0dXJl',
  credId: 'cr-1',
  privateKey: key.privateKeyPem,
};
const keyBody = key.privateKeyPem.split('\n')[1] as string;

function awsError(name: string): Error {
  return Object.assign(new Error(`scripted ${name}`), { name, $metadata: {} });
}

function source(onFetch?: () => void) {
  return new SecretsManagerCredentials({
    client: new SecretsManagerClient({}),
    secretId: 'dfns-cred',
    ...(onFetch ? { onFetch } : {}),
  });
}

async function rejection(promise: Promise<unknown>): Promise<CredentialError> {
  try {
    await promise;
  } catch (error) {
    return error as CredentialError;
  }
  throw new Error('expected a rejection');
}

describe('parseCredentialSecret', () => {
  it('parses the CONTRACT section 3 format into a signing credential', () => {
    const credential = parseCredentialSecret(JSON.stringify(good), 'dfns-cred');
    expect(credential.authToken).toBe(good.authToken);
    expect(credential.credId).toBe('cr-1');
    expect(credential.key.kind).toBe('ed25519');
  });

  it.each([
    ['not JSON', `{"authToken":"${good.authToken}"`, /SecretString is not JSON/],
    ['a JSON array', '[]', /authToken must be a string|must be a JSON object/],
    ['missing authToken', JSON.stringify({ ...good, authToken: undefined }), /authToken must be a string/],
    ['empty credId', JSON.stringify({ ...good, credId: ' ' }), /credId must not be empty/],
    [
      'a wrapped authToken',
      JSON.stringify({ ...good, authToken: 'eyJhbGci\nOiJFZERTQSJ9.x' }),
      /authToken must be one line/,
    ],
    ['a numeric privateKey', JSON.stringify({ ...good, privateKey: 42 }), /privateKey must be a string/],
    [
      'the private key in credId (fields mixed up by hand)',
      JSON.stringify({ ...good, credId: key.privateKeyPem }),
      /credId must be a Dfns credential ID: URL-safe characters only/,
    ],
    ['a credId with a space', JSON.stringify({ ...good, credId: 'cr 1' }), /credId must be a Dfns credential ID/],
    [
      'a credId too long',
      JSON.stringify({ ...good, credId: 'c'.repeat(257) }),
      /credId must be a Dfns credential ID \(at most 256/,
    ],
    [
      'an OpenSSH key',
      JSON.stringify({
        ...good,
        privateKey: ['BEGIN', 'END']
          .map((edge) => `${'-'.repeat(5)}${edge} OPENSSH PRIVATE KEY${'-'.repeat(5)}`)
          .join('\nAAAA\n'),
      }),
      /OpenSSH/,
    ],
  ])('refuses %s, naming the field and never the value', (_name, secretString, rule) => {
    let caught: unknown;
    try {
      parseCredentialSecret(secretString, 'dfns-cred');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CredentialError);
    const error = caught as CredentialError;
    expect(error.reason).toBe('malformed');
    expect(error.message).toMatch(/^secret dfns-cred: /);
    expect(error.message).toMatch(rule);
    expect(error.message).not.toContain('eyJhbGci');
    expect(error.message).not.toContain(keyBody.slice(0, 16));
  });
});

describe('SecretsManagerCredentials', () => {
  it('fetches once and shares the fetch between concurrent first callers', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(good) });
    let fetches = 0;
    const credentials = source(() => (fetches += 1));
    const [a, b] = await Promise.all([credentials.get(), credentials.get()]);
    expect(a).toBe(b);
    expect(await credentials.get()).toBe(a);
    expect(fetches).toBe(1);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: 'dfns-cred' });
  });

  it('refresh fetches again and replaces the cache', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(good) });
    const credentials = source();
    const first = await credentials.get();
    const second = await credentials.refresh();
    expect(second).not.toBe(first);
    expect(await credentials.get()).toBe(second);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it.each([
    ['ThrottlingException', /ThrottlingException: Secrets Manager is throttling/],
    ['AccessDeniedException', /AccessDeniedException: the function role may not read it/],
    ['ResourceNotFoundException', /ResourceNotFoundException: the secret does not exist/],
    ['DecryptionFailure', /DecryptionFailure: its KMS key cannot decrypt it/],
    ['InternalServiceError', /GetSecretValue failed: InternalServiceError$/],
  ])('reports %s as unavailable, and does not cache the failure', async (name, message) => {
    sm.on(GetSecretValueCommand)
      .rejectsOnce(awsError(name))
      .resolves({ SecretString: JSON.stringify(good) });
    const credentials = source();
    const error = await rejection(credentials.get());
    expect(error).toBeInstanceOf(CredentialError);
    expect(error.reason).toBe('unavailable');
    expect(error.message).toMatch(message);
    await expect(credentials.get()).resolves.toMatchObject({ credId: 'cr-1' });
  });

  it('refuses a binary-only secret as malformed', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2, 3]) });
    const error = await rejection(source().get());
    expect(error).toMatchObject({ reason: 'malformed', message: expect.stringMatching(/no SecretString/) });
  });
});
