/**
 * Our Dfns API client: one deactivation attempt of a Personal Access Token, signed as a service account.
 *
 * Requests go through a {@link Transport} (transport.ts: `node:http`/`node:https` with keep-alive connections reused
 * by every token); every answer is read to its end so its connection goes back to the pool. The official
 * `@dfns/sdk` is the reference this is tested against (test/integration/conformance.test.ts); we do not use it at
 * run time because it has no timeouts and loses the HTTP status of non-JSON error bodies.
 *
 * One call is one attempt: no retries here. Retrying (with a fresh challenge each time) is the caller's policy.
 */
import * as z from 'zod';
import {
  DfnsAbortedError,
  DfnsApiError,
  DfnsCredentialNotAllowedError,
  DfnsNetworkError,
  DfnsPendingApprovalError,
  DfnsResponseError,
  DfnsTimeoutError,
  type DfnsStep,
} from './errors.js';
import { approvalIdOf, describeBody, describeErrorBody, dfnsErrorIdOf, MAX_MESSAGE_CHARS } from './answers.js';
import { redact, SecretWindows } from './redact.js';
import { toBase64Url, type SigningKey } from './signing.js';
import { nodeTransport, type HttpAnswer, type Transport } from './transport.js';

/** Pattern of a Dfns token ID (dfns-protocol.md; CONTRACT section 4). */
export const TOKEN_ID_PATTERN = /^to-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{14,16}$/;

/** Default timeout of one HTTP request to Dfns, in ms (CONTRACT section 2, `DFNS_REQUEST_TIMEOUT_MS`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The body of `PUT /auth/pats/{id}/deactivate`, and therefore also the signed `userActionPayload`: Dfns checks that
 * the signed payload equals the bytes sent, so both are this one constant (the TS SDK signs and sends `{}` too).
 */
export const DEACTIVATE_BODY = '{}';

/** The service account's credential, ready to sign (CONTRACT section 3, with the key parsed). */
export interface ServiceAccountCredential {
  /** Service-account token, sent as `Authorization: Bearer`. Secret. */
  readonly authToken: string;
  /** ID of the service account's key credential registered with Dfns. */
  readonly credId: string;
  /** The parsed private key of that credential. */
  readonly key: SigningKey;
  /** The token ID `authToken` names (CONTRACT section 3): never deactivated by this function. */
  readonly ownTokenId?: string;
  /** The organisation `authToken` names: a leaked access token is revoked only if it names the same one. */
  readonly orgId?: string;
}

/** The PAT object Dfns returns (dfns-protocol.md, "The PAT object"); unknown fields are kept. */
export interface Pat {
  tokenId: string;
  isActive: boolean;
  kind?: string;
  name?: string;
  credId?: string;
  linkedUserId?: string;
  linkedAppId?: string;
  orgId?: string;
  dateCreated?: string;
  [field: string]: unknown;
}

/** Options of {@link DfnsClient}. */
export interface DfnsClientOptions {
  /** Dfns API origin, e.g. `https://api.dfns.io`. A path, query or fragment is refused (the SDK would drop it). */
  apiUrl: string | URL;
  /** The credential every request of this client uses. */
  credential: ServiceAccountCredential;
  /** Timeout of each HTTP request (headers and body), in ms. @default 10000 */
  requestTimeoutMs?: number;
  /** How requests are sent; for tests. @default nodeTransport */
  transport?: Transport;
}

/** Options of one call. */
export interface CallOptions {
  /** Aborts the attempt (e.g. the invocation deadline); the request in flight is cancelled. */
  signal?: AbortSignal;
  /** Awaited before each request of the flow (the organisation's pause after a 429). */
  beforeRequest?: () => Promise<void>;
}

/** The `User-Agent` of every request to Dfns. */
export const USER_AGENT = 'pat-revoker';

/**
 * Dfns' documented API origins (dfns-protocol.md): Europe (the default), the UAE region, and the deprecated staging
 * origin. A new region is one line here.
 */
export const DFNS_API_ORIGINS: readonly string[] = [
  'https://api.dfns.io',
  'https://api.uae.dfns.io',
  'https://api.dfns.ninja',
];

/** Hosts for which plain `http:` is allowed (the local sandbox). */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Longest request timeout accepted, in ms: a Lambda invocation lasts at most 15 minutes. */
export const MAX_REQUEST_TIMEOUT_MS = 900_000;

/** What an `authToken` may contain: one line of printable ASCII, as a JWT is (it goes into an HTTP header). */
const AUTH_TOKEN_SHAPE = /^[\x21-\x7e]+$/;

/**
 * Checks that `apiUrl` is a bare origin and returns it without trailing slash.
 *
 * @throws {TypeError} naming the rule when the URL is not absolute, not https (http only on loopback), or has a
 *   path, query or fragment
 */
export function parseDfnsOrigin(apiUrl: string | URL): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new TypeError(`Dfns API URL must be an absolute URL, got ${JSON.stringify(String(apiUrl))}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    // The bearer token and user actions must never cross a network in clear text.
    throw new TypeError(
      `Dfns API URL must use https: (plain http: only on loopback), got ${url.protocol}//${url.host}`,
    );
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError(`Dfns API URL must be an origin without path, query or credentials, e.g. https://api.dfns.io`);
  }
  // The bearer token goes to this host: only Dfns' own origins, or the loopback sandbox, never a host anyone could
  // name by editing one variable.
  if (!LOOPBACK_HOSTS.has(url.hostname) && !DFNS_API_ORIGINS.includes(url.origin)) {
    throw new TypeError(
      `Dfns API URL must be one of Dfns' documented API origins (${DFNS_API_ORIGINS.join(', ')}) or a loopback address, got ${url.origin}`,
    );
  }
  return url.origin;
}

const challengeSchema = z.object({
  challenge: z.string().min(1),
  challengeIdentifier: z.string().min(1),
  allowCredentials: z.object({ key: z.array(z.object({ id: z.string() })) }),
});
const userActionSchema = z.object({ userAction: z.string().min(1) });
const patSchema = z.looseObject({ tokenId: z.string(), isActive: z.boolean() });
/**
 * Deactivates PATs at Dfns with User Action Signing, one attempt per call.
 *
 * Immutable and safe to share across concurrent calls; build one per credential (a rotated credential is a new
 * client) and keep it for the life of the container.
 */
export class DfnsClient {
  private readonly origin: string;
  // An ES private field: not shown by util.inspect or JSON.stringify, so logging the client cannot leak the token.
  readonly #credential: ServiceAccountCredential;
  readonly #tokenWindows: SecretWindows;
  private readonly timeoutMs: number;
  private readonly transport: Transport;

  /**
   * @throws {TypeError} when `apiUrl` is not an allowed origin, `requestTimeoutMs` is not an integer from 1 to
   *   {@link MAX_REQUEST_TIMEOUT_MS}, or the `authToken` is not one line of printable ASCII (the message never
   *   shows the token)
   */
  constructor(options: DfnsClientOptions) {
    this.origin = parseDfnsOrigin(options.apiUrl);
    if (!AUTH_TOKEN_SHAPE.test(options.credential.authToken)) {
      throw new TypeError('authToken must be one line of printable ASCII (a JWT) without spaces or line breaks');
    }
    this.#credential = options.credential;
    this.#tokenWindows = new SecretWindows(options.credential.authToken);
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs <= 0 || this.timeoutMs > MAX_REQUEST_TIMEOUT_MS) {
      throw new TypeError(
        `requestTimeoutMs must be an integer from 1 to ${MAX_REQUEST_TIMEOUT_MS} (ms), got ${options.requestTimeoutMs}`,
      );
    }
    this.transport = options.transport ?? nodeTransport;
  }

  /**
   * Switches a PAT off: `POST /auth/action/init` → sign the challenge → `POST /auth/action` →
   * `PUT /auth/pats/{tokenId}/deactivate` with the user action (dfns-protocol.md, "The four steps").
   * Each of the three requests has its own timeout of `requestTimeoutMs`.
   *
   * @param tokenId the PAT's token ID; checked against {@link TOKEN_ID_PATTERN} before any request, since it
   *   becomes part of a URL path
   * @returns the PAT as Dfns returned it (after success `isActive` is `false`; a 200 saying `true` is returned as
   *   is, for the caller to judge)
   * @throws {TypeError} for a token ID that does not match the pattern (no request is sent)
   * @throws {DfnsApiError} for an HTTP error status, with the step and Dfns' message
   * @throws {DfnsPendingApprovalError} when Dfns answers 202 (a policy holds the action)
   * @throws {DfnsTimeoutError} when one request gets no complete answer in time
   * @throws {DfnsNetworkError} when a request gets no answer (reset, refused, DNS, TLS)
   * @throws {DfnsAbortedError} when `options.signal` aborts
   * @throws {DfnsResponseError} for a success status with an unusable body
   * @throws {DfnsCredentialNotAllowedError} when the challenge does not list our `credId`
   */
  async deactivatePat(tokenId: string, options: CallOptions = {}): Promise<Pat> {
    if (typeof tokenId !== 'string' || !TOKEN_ID_PATTERN.test(tokenId)) {
      throw new TypeError(`tokenId must match ${TOKEN_ID_PATTERN.source}`);
    }
    const path = `/auth/pats/${tokenId}/deactivate`;
    const { credId, key } = this.#credential;

    const challenge = challengeSchema.safeParse(
      await this.send('init', tokenId, 'POST', '/auth/action/init', options, {
        // Field order as the official SDK sends it; the payload is the exact body of the PUT below.
        body: JSON.stringify({
          userActionPayload: DEACTIVATE_BODY,
          userActionHttpMethod: 'PUT',
          userActionHttpPath: path,
          userActionServerKind: 'Api',
        }),
      }),
    );
    if (!challenge.success) throw this.unusable('init', tokenId, challenge.error);
    const allowed = challenge.data.allowCredentials.key;
    if (!allowed.some((c) => c.id === credId)) {
      throw new DfnsCredentialNotAllowedError(tokenId, credId, allowed.length);
    }

    const clientData = JSON.stringify({ type: 'key.get', challenge: challenge.data.challenge });
    const action = userActionSchema.safeParse(
      await this.send('action', tokenId, 'POST', '/auth/action', options, {
        body: JSON.stringify({
          challengeIdentifier: challenge.data.challengeIdentifier,
          firstFactor: {
            kind: 'Key',
            credentialAssertion: {
              credId,
              clientData: toBase64Url(clientData),
              signature: key.sign(clientData),
            },
          },
        }),
      }),
    );
    if (!action.success) throw this.unusable('action', tokenId, action.error);

    const pat = patSchema.safeParse(
      await this.send('deactivate', tokenId, 'PUT', path, options, {
        body: DEACTIVATE_BODY,
        userAction: action.data.userAction,
      }),
    );
    if (!pat.success) throw this.unusable('deactivate', tokenId, pat.error);
    if (pat.data.tokenId !== tokenId) {
      throw new DfnsResponseError(
        'deactivate',
        tokenId,
        200,
        // Dfns' answer, shown only when it is a token ID: a string of the far end's choosing is not echoed.
        `answer is about another token (${TOKEN_ID_PATTERN.test(pat.data.tokenId) ? pat.data.tokenId : 'not a token ID'})`,
      );
    }
    return pat.data as Pat;
  }

  /**
   * One HTTP request with its timeout; maps every failure to a typed error and returns the parsed JSON body of a
   * 200. The body is always consumed, so the keep-alive connection returns to the pool.
   */
  private async send(
    step: DfnsStep,
    tokenId: string,
    method: 'POST' | 'PUT',
    path: string,
    options: CallOptions,
    request: { body: string; userAction?: string },
  ): Promise<unknown> {
    if (options.beforeRequest) await options.beforeRequest();
    if (options.signal?.aborted) throw new DfnsAbortedError(step, tokenId);
    // One controller per request, fed by a plain timer and the caller's signal: AbortSignal.any keeps every
    // dependent signal alive on the long-lived caller signal for the whole invocation (Node 20), and costs more.
    const controller = new AbortController();
    const timeout = { aborted: false };
    const timer = setTimeout(() => {
      timeout.aborted = true;
      controller.abort();
    }, this.timeoutMs);
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = controller.signal;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#credential.authToken}`,
      'content-type': 'application/json',
      accept: 'application/json',
      // Named, so Dfns can tell our calls apart, and a WAF rule against requests without a User-Agent passes.
      'user-agent': USER_AGENT,
    };
    if (request.userAction !== undefined) headers['x-dfns-useraction'] = request.userAction;

    let answer: HttpAnswer;
    try {
      answer = await this.transport({ method, url: `${this.origin}${path}`, headers, body: request.body, signal });
    } catch (error) {
      if (options.signal?.aborted) throw new DfnsAbortedError(step, tokenId);
      if (timeout.aborted) throw new DfnsTimeoutError(step, tokenId, this.timeoutMs);
      throw networkError(step, tokenId, error, (message) => this.redact(message, request.userAction));
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    const { status, text, contentType, retryAfter } = answer;

    // Classify by status first: proxies answer 502/503 with HTML, and a 202 body is not the PAT.
    if (status === 202 && step === 'deactivate') throw new DfnsPendingApprovalError(tokenId, approvalIdOf(text));
    if (status !== 200 && status >= 200 && status <= 299) {
      throw new DfnsResponseError(
        step,
        tokenId,
        status,
        `unexpected success status (${describeBody(text, contentType)})`,
      );
    }
    if (status !== 200) {
      throw new DfnsApiError(
        step,
        tokenId,
        status,
        describeErrorBody(text, contentType, (message) => this.redact(message, request.userAction)),
        retryAfter,
        dfnsErrorIdOf(text),
      );
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new DfnsResponseError(step, tokenId, status, `body is not JSON (${describeBody(text, contentType)})`);
    }
  }

  private unusable(step: DfnsStep, tokenId: string, error: z.ZodError): DfnsResponseError {
    const issue = error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'body';
    return new DfnsResponseError(step, tokenId, 200, `${where}: ${issue?.message ?? 'invalid'}`);
  }

  /** A Dfns answer could echo what we sent: the bearer token and the user action, whole or in part. */
  private redact(text: string, userAction: string | undefined): string {
    const secrets = userAction ? [this.#tokenWindows, new SecretWindows(userAction)] : [this.#tokenWindows];
    return redact(text, secrets);
  }

  /** Never print the credential. */
  toJSON(): { origin: string; timeoutMs: number } {
    return { origin: this.origin, timeoutMs: this.timeoutMs };
  }

  /** @see toJSON */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DfnsClient<${this.origin}>`;
  }
}

function networkError(
  step: DfnsStep,
  tokenId: string,
  error: unknown,
  redactText: (message: string) => string,
): DfnsNetworkError {
  // A socket or system error (`connect ECONNREFUSED ...`, `socket hang up`, a TLS failure): its code, and its message
  // redacted all the same, since nothing but our own transport promises it never quotes a header. Redacted before
  // it is cut, as Dfns' messages are.
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const detail =
    typeof message === 'string' && message !== '' ? message : `${(error as Error)?.name ?? 'Error'} before any answer`;
  const said = redactText(detail.slice(0, 16 * MAX_MESSAGE_CHARS)).slice(0, MAX_MESSAGE_CHARS);
  return new DfnsNetworkError(step, tokenId, typeof code === 'string' ? code : undefined, said);
}
