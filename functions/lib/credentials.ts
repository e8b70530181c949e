/**
 * The Dfns service-account credential, loaded from AWS Secrets Manager (CONTRACT section 3).
 *
 * Fetched lazily (an empty batch makes no call), parsed once (the private key becomes a `KeyObject`), cached for
 * the life of the container, and fetched again on demand when Dfns rejects it (401), so a rotated secret takes
 * effect without a redeploy. Errors name the problem and never carry any part of the secret value.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { readAccessToken } from './dfns/access-token.js';
import type { ServiceAccountCredential } from './dfns/client.js';
import { InvalidPrivateKeyError, SigningKey } from './dfns/signing.js';

/**
 * The credential cannot be loaded or used. A configuration fault, never a fault of a token: callers retry the
 * whole batch. `reason` tells an operator where to look.
 */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
  constructor(
    /** `unavailable`: Secrets Manager did not give the value; `malformed`: the value is not a usable credential. */
    readonly reason: 'unavailable' | 'malformed',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Where the batch gets its credential from. */
export interface CredentialSource {
  /**
   * The cached credential, fetched on first use; `signal` aborts that fetch (the invocation deadline).
   * @throws {CredentialError}
   */
  get(signal?: AbortSignal): Promise<ServiceAccountCredential>;
  /** Fetches the secret again and replaces the cache. @throws {CredentialError} */
  refresh(signal?: AbortSignal): Promise<ServiceAccountCredential>;
}

/** Longest credential ID accepted (Dfns' are about 40 characters). */
const MAX_CRED_ID_CHARS = 256;

const secretSchema = z.object({
  authToken: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    // It becomes an HTTP header: a token wrapped over lines when pasted would make every request fail.
    .regex(/^[\x21-\x7e]+$/, 'must be one line of printable ASCII (a JWT) without spaces or line breaks'),
  // A Dfns credential ID is URL-safe text. Anything else (the private key pasted into the wrong field, a PEM marker,
  // a wrapped line) would otherwise travel into every request, error and log line that names the credential.
  credId: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(MAX_CRED_ID_CHARS, `must be a Dfns credential ID (at most ${MAX_CRED_ID_CHARS} characters)`)
    .regex(
      /^[A-Za-z0-9_-]+$/,
      'must be a Dfns credential ID: URL-safe characters only (letters, digits, - and _), no whitespace or PEM marker',
    ),
  privateKey: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
});

/**
 * Parses a `SecretString` in the CONTRACT section 3 format.
 *
 * @param secretString the secret's value: JSON `{ authToken, credId, privateKey }`
 * @param secretId used in messages only
 * @throws {CredentialError} `malformed`, naming the field and the rule (never the value)
 */
export function parseCredentialSecret(secretString: string, secretId: string): ServiceAccountCredential {
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    // JSON.parse's own message quotes the input: never let it out.
    throw new CredentialError(
      'malformed',
      `secret ${secretId}: SecretString is not JSON; expected {"authToken","credId","privateKey"}`,
    );
  }
  const parsed = secretSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? issue.path.join('.') : 'SecretString';
    const rule = issue?.code === 'invalid_type' && issue.path.length === 0 ? 'must be a JSON object' : issue?.message;
    throw new CredentialError('malformed', `secret ${secretId}: ${field} ${rule}`);
  }
  // What the token says of itself (decoded, not verified): the token to protect, and our organisation.
  const { tokenId: ownTokenId, orgId } = readAccessToken(parsed.data.authToken) ?? {};
  try {
    return {
      authToken: parsed.data.authToken,
      credId: parsed.data.credId,
      key: SigningKey.fromPem(parsed.data.privateKey),
      ...(ownTokenId === undefined ? {} : { ownTokenId }),
      ...(orgId === undefined ? {} : { orgId }),
    };
  } catch (error) {
    if (error instanceof InvalidPrivateKeyError)
      throw new CredentialError('malformed', `secret ${secretId}: ${error.message}`);
    throw error;
  }
}

/** Options of {@link SecretsManagerCredentials}. */
export interface SecretsManagerCredentialsOptions {
  client: SecretsManagerClient;
  /** Secret name or ARN. */
  secretId: string;
  /** Called once per GetSecretValue call (for the `CredentialFetches` metric). */
  onFetch?: () => void;
}

/** The credential from Secrets Manager, cached per container. */
export class SecretsManagerCredentials implements CredentialSource {
  private cached: Promise<ServiceAccountCredential> | undefined;

  constructor(private readonly options: SecretsManagerCredentialsOptions) {}

  get(signal?: AbortSignal): Promise<ServiceAccountCredential> {
    // Concurrent first callers share one fetch.
    this.cached ??= this.fetch(signal);
    return this.cached;
  }

  refresh(signal?: AbortSignal): Promise<ServiceAccountCredential> {
    this.cached = this.fetch(signal);
    return this.cached;
  }

  private async fetch(signal: AbortSignal | undefined): Promise<ServiceAccountCredential> {
    const { client, secretId, onFetch } = this.options;
    onFetch?.();
    let secretString: string | undefined;
    try {
      const answer = await client.send(
        new GetSecretValueCommand({ SecretId: secretId }),
        signal ? { abortSignal: signal } : {},
      );
      secretString = answer.SecretString;
    } catch (error) {
      this.cached = undefined; // a failure is not cached: the next invocation tries again
      throw new CredentialError(
        'unavailable',
        `secret ${secretId}: GetSecretValue failed: ${describeAwsError(error)}`,
        {
          cause: error,
        },
      );
    }
    try {
      if (secretString === undefined) {
        throw new CredentialError(
          'malformed',
          `secret ${secretId}: has no SecretString (binary secrets are not supported)`,
        );
      }
      return parseCredentialSecret(secretString, secretId);
    } catch (error) {
      this.cached = undefined;
      throw error;
    }
  }
}

const HINTS: Record<string, string> = {
  ResourceNotFoundException: 'the secret does not exist in this account and region (check DFNS_CREDENTIALS_SECRET_ID)',
  AccessDeniedException:
    'the function role may not read it (secretsmanager:GetSecretValue, and kms:Decrypt for a customer-managed key)',
  DecryptionFailure: 'its KMS key cannot decrypt it (kms:Decrypt on the key, key enabled)',
  InvalidRequestException: 'the secret is scheduled for deletion or disabled',
  ThrottlingException: 'Secrets Manager is throttling; the batch will be retried',
};

function describeAwsError(error: unknown): string {
  const name = (error as { name?: unknown })?.name;
  const label = typeof name === 'string' ? name : 'unknown error';
  const hint = typeof name === 'string' ? HINTS[name] : undefined;
  return hint ? `${label}: ${hint}` : label;
}
