/**
 * A local Dfns-compatible API on loopback for tests, the demo, the benchmark and incident rehearsals.
 *
 * It serves the four routes a PAT deactivation needs and enforces the rules the real service does as far as
 * dfns-protocol.md knows them: bearer tokens, signature verification per key type, single-use expiring challenges
 * and user actions bound to method, path, payload and caller, a PAT store, Dfns-shaped error bodies. The official
 * `@dfns/sdk` must succeed against it (test/integration/conformance.test.ts): if it does not, the sandbox is wrong.
 *
 * Faults (status, HTML, delay, hang, TCP reset, before or after the real processing) are scripted per route, and
 * a latency can be added to every request to model the round trip to Dfns.
 */
import { createPublicKey, constants, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { accessTokenClaims, AccessTokenSigner, type AccessTokenSpec } from './access-token.js';
import { errorBody, FaultScript, type SandboxFault, type SandboxRoute } from './faults.js';
import { dfnsId, generateKey, newTokenId, opaque, type KeyKind } from './ids.js';
import { OrgRateLimit, type RateLimitOptions } from './rate-limit.js';

/** Options of {@link startSandbox}. */
export interface SandboxOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number;
  /** Added before every request is handled, in ms: the round trip to Dfns. @default 0 */
  latencyMs?: number;
  /** Lifetime of a challenge, in ms (Dfns: 900 s seen in 2023). @default 900000 */
  challengeTtlMs?: number;
  /** Lifetime of a user action token, in ms. @default 300000 */
  userActionTtlMs?: number;
  /** Keep every request in {@link DfnsSandbox.requests}; turn off for long benchmark runs. @default true */
  recordRequests?: boolean;
  /** The org every PAT and service account belongs to. @default a fresh `or-...` ID */
  orgId?: string;
  /** The organisation's request limit (every account and route together). @default none */
  rateLimit?: RateLimitOptions;
}

/**
 * A token as the sandbox stores and returns it (dfns-protocol.md, "The PAT object"): a PAT, or the token of a
 * service account (which `PUT /auth/pats/{id}/deactivate` switches off alike). It never holds the access token.
 */
export interface SandboxPat {
  tokenId: string;
  isActive: boolean;
  kind: 'Pat' | 'ServiceAccount';
  name: string;
  credId: string;
  linkedUserId: string;
  linkedAppId: string;
  orgId: string;
  dateCreated: string;
  permissionAssignments: unknown[];
  publicKey: string;
}

/** A PAT just added, with its access token (Dfns shows it only at creation, and never in API answers). */
export interface IssuedPat extends SandboxPat {
  /** The PAT's bearer token: a Dfns access token (`jti` the token ID, `tokenKind` `Pat`). */
  accessToken: string;
}

/** An access token of any organisation, kind and claims: see {@link DfnsSandbox.accessTokenFor}. */
export type AccessTokenOptions = Partial<AccessTokenSpec>;

/** The credential secret of a service account, in the CONTRACT section 3 shape. */
export interface ServiceAccountSecret {
  authToken: string;
  credId: string;
  privateKey: string;
}

/** One request the sandbox received, for assertions. */
export interface RecordedRequest {
  route: SandboxRoute | 'unknown';
  method: string;
  /** Path and query exactly as received. */
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The raw body. */
  body: string;
  /** The status sent, if an answer was sent. */
  status?: number;
  /** The body sent with it (a parsed object for JSON answers). */
  response?: unknown;
  /** The scripted fault applied to it, if any. */
  fault?: SandboxFault;
  /** The client closed the connection before an answer was sent (a timeout or abort on its side). */
  closedByClient: boolean;
  /** Refused with 429 by the organisation's rate limit (not counted against it). */
  throttled?: true;
  /** When it arrived, ms of `performance.now()`. */
  at: number;
}

/** Who a bearer token is: a service account, or a PAT (whose bearer has no key credential to sign with). */
interface ServiceAccount {
  authToken: string;
  userId: string;
  /** The token this bearer is, in the token store: every request with it answers 401 once it is deactivated. */
  tokenId: string;
  /** credId → public key */
  credentials: Map<string, KeyObject>;
}

/** A user action (and the challenge that leads to it) is bound to its caller and to one request. */
interface UserAction {
  authToken: string;
  method: string;
  path: string;
  payload: string;
  expiresAt: number;
  used: boolean;
}

interface Challenge extends UserAction {
  challenge: string;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const PAT_PATH = /^\/auth\/pats\/([^/?#]+)(\/deactivate)?$/;

/** Every secret any sandbox of this process issued: bearer and access tokens, generated private keys, user actions. */
const ISSUED = new Set<string>();

/**
 * The secrets issued so far by every sandbox in this process, so tests can prove none of them was printed
 * (test/support/hygiene.ts checks each test file's whole output).
 */
export function issuedSecrets(): ReadonlySet<string> {
  return ISSUED;
}
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);

/** A running sandbox. Create it with {@link startSandbox}; `close()` it when done. */
export class DfnsSandbox {
  /** Origin to use as `DFNS_API_URL`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The org of every PAT and service account. */
  readonly orgId: string;
  /** Every request received, in order (unless `recordRequests: false`). */
  readonly requests: RecordedRequest[] = [];
  /** The scripted faults; add with {@link DfnsSandbox.injectFault}. */
  readonly faults = new FaultScript();
  /** Verifies the signature of this sandbox's access tokens (Ed25519, a key per sandbox; Dfns' own is not needed). */
  readonly accessTokenPublicKey: KeyObject;
  /** Latency added to every request, in ms; may be changed at any time. */
  latencyMs: number;
  /** TCP connections accepted so far (keep-alive reuse shows as a small number). */
  connections = 0;
  /** Requests received so far (counted even when not recorded). */
  requestCount = 0;
  /** Requests being handled right now, and the most there have been at once since the last reset. */
  inFlight = 0;
  maxInFlight = 0;
  /** The organisation's request limit, when one is enforced; set with {@link DfnsSandbox.limitRate}. */
  rateLimit: OrgRateLimit | undefined;

  private readonly server: Server;
  private readonly options: Required<Omit<SandboxOptions, 'port' | 'latencyMs' | 'orgId' | 'rateLimit'>>;
  private readonly accounts = new Map<string, ServiceAccount>();
  private readonly pats = new Map<string, SandboxPat>();
  /** tokenId → the access token issued for it (PATs: on {@link DfnsSandbox.addPat} or when first asked for). */
  private readonly accessTokens = new Map<string, string>();
  /** Signs this sandbox's access tokens: a key of its own, as Dfns' auth service has. */
  private readonly signer = new AccessTokenSigner();
  private serviceAccounts = 0;
  private readonly challenges = new Map<string, Challenge>();
  private readonly userActions = new Map<string, UserAction>();
  private readonly sockets = new Set<Socket>();

  /** @internal use {@link startSandbox} */
  constructor(server: Server, options: SandboxOptions) {
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.latencyMs = options.latencyMs ?? 0;
    this.orgId = options.orgId ?? dfnsId('or', 16);
    this.accessTokenPublicKey = this.signer.publicKey;
    this.rateLimit = options.rateLimit ? new OrgRateLimit(options.rateLimit) : undefined;
    this.options = {
      challengeTtlMs: options.challengeTtlMs ?? 900_000,
      userActionTtlMs: options.userActionTtlMs ?? 300_000,
      recordRequests: options.recordRequests ?? true,
    };
    server.on('connection', (socket: Socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.serve(req, res).catch(() => {
        // A bug or a malformed request must answer 500, never take the sandbox down.
        if (!res.headersSent) send(res, { status: 500, body: errorBody(500, 'Internal Server Error') });
        else res.destroy();
      });
    });
  }

  /**
   * Registers a service account with a key credential. Give the public key of an existing key pair, or a key kind
   * to have one generated (then the returned secret holds its private key).
   *
   * Its bearer token is a Dfns access token (`jti` its token ID, `tokenKind` `ServiceAccount`, `userId` its user),
   * unless `authToken` picks another; either way the account has a token ID ({@link DfnsSandbox.tokenIdOf}, or
   * `tokenId` to choose it), and `PUT /auth/pats/{that ID}/deactivate` switches its bearer off (401 from then on).
   *
   * @returns the credential secret in the CONTRACT section 3 shape (`privateKey` is `''` when a public key was given)
   */
  createServiceAccount(
    key: ({ kind: KeyKind; rsaBits?: number } | { publicKeyPem: string }) & {
      authToken?: string;
      tokenId?: string;
      name?: string;
    } = { kind: 'ed25519' },
  ): ServiceAccountSecret {
    const generated = 'kind' in key ? generateKey(key.kind, key.rsaBits) : undefined;
    const publicKeyPem = generated?.publicKeyPem ?? (key as { publicKeyPem: string }).publicKeyPem;
    const userId = dfnsId('us', 16);
    const tokenId = key.tokenId ?? newTokenId();
    const name = key.name ?? `Service Account ${this.serviceAccounts + 1}`;
    const credId = opaque(24);
    const authToken =
      key.authToken ??
      this.issue({ tokenKind: 'ServiceAccount', orgId: this.orgId, jti: tokenId, userId, username: name });
    this.serviceAccounts += 1;
    this.storeToken(this.tokenRecord(tokenId, 'ServiceAccount', name, userId, credId));
    this.accessTokens.set(tokenId, authToken);
    this.accounts.set(authToken, {
      authToken,
      userId,
      tokenId,
      credentials: new Map([[credId, createPublicKey(publicKeyPem)]]),
    });
    ISSUED.add(authToken);
    if (generated) ISSUED.add(generated.privateKeyPem);
    return { authToken, credId, privateKey: generated?.privateKeyPem ?? '' };
  }

  /**
   * The token ID of a bearer this sandbox accepts: a service account's (its `jti` when it is an access token) or a
   * PAT's access token.
   *
   * @throws for a bearer the sandbox does not know (or one revoked with {@link DfnsSandbox.revokeAuthToken})
   */
  tokenIdOf(authToken: string): string {
    return this.accountOf(authToken).tokenId;
  }

  /**
   * The access token of a PAT or service account of this sandbox, issued when first asked for (a PAT of
   * {@link DfnsSandbox.seedPats} has none until then): a bearer the sandbox accepts until the token is deactivated.
   * It has no key credential, so it cannot sign a user action; it can read (`GET /auth/pats/{id}`).
   *
   * @throws for an unknown token ID
   */
  accessTokenOf(tokenId: string): string {
    const issued = this.accessTokens.get(tokenId);
    if (issued !== undefined) return issued;
    const pat = this.pats.get(tokenId);
    if (!pat) throw new Error(`unknown token ${tokenId}`);
    const accessToken = this.issue({
      tokenKind: 'Pat',
      orgId: this.orgId,
      jti: tokenId,
      userId: pat.linkedUserId,
      issuedAt: new Date(pat.dateCreated),
    });
    this.accessTokens.set(tokenId, accessToken);
    this.accounts.set(accessToken, {
      authToken: accessToken,
      userId: pat.linkedUserId,
      tokenId,
      credentials: new Map(),
    });
    return accessToken;
  }

  /**
   * A Dfns access token with any claims, signed by this sandbox, for values a test sends where a token ID belongs:
   * a PAT's token (the default: a fresh token ID in this organisation), one of another organisation
   * (`{ orgId: dfnsId('or', 16) }`), a login token naming no token ID (`{ tokenKind: 'Token' }`: `jti` a `uj-…`
   * ID)... It is added to {@link issuedSecrets} and is no bearer of this sandbox (a request with it answers 401).
   */
  accessTokenFor(options: AccessTokenOptions = {}): string {
    return this.issue({ ...options, orgId: options.orgId ?? this.orgId });
  }

  /**
   * Adds another key credential to an existing service account (a key rotation: both keys valid until the old one
   * is removed with {@link DfnsSandbox.removeCredential}).
   *
   * @returns the new credential's `credId`
   */
  addCredential(authToken: string, publicKeyPem: string): string {
    const account = this.accountOf(authToken);
    const credId = opaque(24);
    account.credentials.set(credId, createPublicKey(publicKeyPem));
    return credId;
  }

  /** Deactivates a key credential: signatures with it are refused (401) from now on. */
  removeCredential(authToken: string, credId: string): void {
    this.accountOf(authToken).credentials.delete(credId);
  }

  /** Revokes a service-account token: every request with it answers 401 from now on. */
  revokeAuthToken(authToken: string): void {
    this.accounts.delete(authToken);
  }

  /**
   * Adds a PAT (active unless said otherwise) and returns it with its access token (see
   * {@link DfnsSandbox.accessTokenOf}), as Dfns answers its creation.
   */
  addPat(fields: Partial<Pick<SandboxPat, 'tokenId' | 'isActive' | 'name' | 'linkedUserId'>> = {}): IssuedPat {
    const pat = this.storePat(fields);
    return { ...pat, accessToken: this.accessTokenOf(pat.tokenId) };
  }

  /** Adds `count` active PATs and returns their token IDs (their access tokens are issued only when asked for). */
  seedPats(count: number): string[] {
    return Array.from({ length: count }, () => this.storePat({}).tokenId);
  }

  /** A copy of a PAT's current state, or `undefined` if the sandbox does not know it. */
  pat(tokenId: string): SandboxPat | undefined {
    const pat = this.pats.get(tokenId);
    return pat ? { ...pat } : undefined;
  }

  /** Whether a PAT is active now; `undefined` for an unknown token. */
  isActive(tokenId: string): boolean | undefined {
    return this.pats.get(tokenId)?.isActive;
  }

  /** Sets a PAT's state directly (e.g. to run the same token through two clients). */
  setActive(tokenId: string, isActive: boolean): void {
    const pat = this.pats.get(tokenId);
    if (!pat) throw new Error(`unknown token ${tokenId}`);
    pat.isActive = isActive;
  }

  /**
   * Enforces an organisation request limit from now on (a fresh window), or none with `undefined`: a request over
   * it answers 429 in Dfns' error shape, with `Retry-After` as configured.
   */
  limitRate(options: RateLimitOptions | undefined): OrgRateLimit | undefined {
    this.rateLimit = options ? new OrgRateLimit(options) : undefined;
    return this.rateLimit;
  }

  /** Queues a fault (see {@link SandboxFault}). */
  injectFault(fault: SandboxFault): void {
    this.faults.add(fault);
  }

  /** Recorded requests of one route. */
  requestsTo(route: SandboxRoute): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  /** Forgets recorded requests and counters (not PATs, accounts or faults). */
  resetRecording(): void {
    this.requests.length = 0;
    this.requestCount = 0;
    this.maxInFlight = this.inFlight;
    this.connections = this.sockets.size;
  }

  /** Stops the server, closing every connection (hung requests included). */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** Which route a request is for, and which token it concerns (for faults scripted per token). */
  private routeOf(
    method: string,
    path: string,
    body: string,
  ): { route: SandboxRoute | 'unknown'; tokenId?: string | undefined } {
    const pathname = path.split('?')[0] as string;
    if (method === 'POST' && pathname === '/auth/action/init') {
      const signed = safeJson(body)?.userActionHttpPath;
      return { route: 'init', tokenId: typeof signed === 'string' ? tokenIdOf(signed) : undefined };
    }
    if (method === 'POST' && pathname === '/auth/action') {
      const identifier = safeJson(body)?.challengeIdentifier;
      const challenge = typeof identifier === 'string' ? this.challenges.get(identifier) : undefined;
      return { route: 'action', tokenId: challenge ? tokenIdOf(challenge.path) : undefined };
    }
    const match = PAT_PATH.exec(pathname);
    if (match) {
      const tokenId = safeDecode(match[1] as string);
      if (method === 'PUT' && match[2]) return { route: 'deactivate', tokenId };
      if (method === 'GET' && !match[2]) return { route: 'get', tokenId };
    }
    return { route: 'unknown' };
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requestCount += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => {
      this.inFlight -= 1;
    });
    const body = await readBody(req);
    const path = req.url ?? '/';
    const { route, tokenId } = this.routeOf(req.method ?? '', path, body);
    const record: RecordedRequest = {
      route,
      method: req.method ?? '',
      path,
      headers: flattenHeaders(req),
      body,
      closedByClient: false,
      at: performance.now(),
    };
    if (this.options.recordRequests) this.requests.push(record);
    const admission = this.rateLimit?.take();
    if (admission && !admission.admitted) {
      record.throttled = true;
      const reply = {
        status: 429,
        body: errorBody(429, 'Too Many Requests: the organization has reached its request limit'),
        headers: admission.headers,
      };
      send(res, reply);
      record.status = 429;
      record.response = reply.body;
      return;
    }
    let resetByUs = false;
    res.on('close', () => {
      if (!res.writableFinished && !resetByUs) record.closedByClient = true;
    });

    const fault = route === 'unknown' ? undefined : this.faults.take(route, tokenId);
    if (fault) record.fault = fault;
    const delay = this.latencyMs + (fault?.delayMs ?? 0);
    if (delay > 0) await sleep(delay);
    if (res.destroyed) return;

    const scripted = fault && (fault.respond || fault.hang || fault.reset);
    let reply: Reply | undefined;
    if (!scripted || fault.afterProcessing) reply = this.handle(route, req, path, body, tokenId);
    if (fault?.respond) {
      const { status, body: scriptedBody, headers } = fault.respond;
      const replyBody =
        typeof scriptedBody === 'function' ? (scriptedBody as (r: RecordedRequest) => unknown)(record) : scriptedBody;
      reply = { status, body: replyBody, ...(headers ? { headers } : {}) };
    }
    if (fault?.midBody) {
      if (fault.midBody === 'reset') resetByUs = true;
      sendHalf(res, reply as Reply, fault.midBody);
      record.status = (reply as Reply).status;
      return;
    }
    if (fault?.hang) return; // the socket stays open until the client (or close()) ends it
    if (fault?.reset) {
      resetByUs = true;
      req.socket.resetAndDestroy();
      return;
    }
    send(res, reply as Reply);
    record.status = (reply as Reply).status;
    record.response = (reply as Reply).body;
  }

  private handle(
    route: SandboxRoute | 'unknown',
    req: IncomingMessage,
    path: string,
    body: string,
    tokenId?: string,
  ): Reply {
    try {
      if (route === 'unknown') throw new HttpError(404, `Route not found: ${req.method} ${path.split('?')[0]}`);
      const account = this.authenticate(req);
      switch (route) {
        case 'init':
          return this.init(account, body);
        case 'action':
          return this.action(account, body);
        case 'deactivate':
          return this.deactivate(account, req, path, body, tokenId as string);
        case 'get':
          return this.get(tokenId as string);
      }
    } catch (error) {
      if (error instanceof HttpError) return { status: error.status, body: errorBody(error.status, error.message) };
      return { status: 500, body: errorBody(500, 'Internal Server Error') };
    }
  }

  private authenticate(req: IncomingMessage): ServiceAccount {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/.exec(header);
    const account = match ? this.accounts.get(match[1] as string) : undefined;
    // A deactivated token is refused like an unknown one: the revoker that switched its own token off is locked out.
    if (!account || this.pats.get(account.tokenId)?.isActive === false)
      throw new HttpError(401, match ? 'Unauthorized: invalid or expired token' : 'Unauthorized: missing bearer token');
    return account;
  }

  /** Signs an access token and counts it as issued. */
  private issue(spec: AccessTokenSpec): string {
    const token = this.signer.sign(accessTokenClaims(spec));
    ISSUED.add(token);
    return token;
  }

  /** Adds a PAT to the store, without an access token. */
  private storePat(fields: Partial<Pick<SandboxPat, 'tokenId' | 'isActive' | 'name' | 'linkedUserId'>>): SandboxPat {
    const tokenId = fields.tokenId ?? newTokenId();
    const pat = this.tokenRecord(
      tokenId,
      'Pat',
      fields.name ?? `pat ${tokenId.slice(-6)}`,
      fields.linkedUserId ?? dfnsId('us', 16),
      opaque(24),
    );
    if (fields.isActive === false) pat.isActive = false;
    this.storeToken(pat);
    return { ...pat };
  }

  /** Puts a token in the store. One added again under the same ID is a new token: the old one's bearer is gone. */
  private storeToken(record: SandboxPat): void {
    const previous = this.accessTokens.get(record.tokenId);
    if (previous !== undefined) {
      this.accounts.delete(previous);
      this.accessTokens.delete(record.tokenId);
    }
    this.pats.set(record.tokenId, record);
  }

  private tokenRecord(
    tokenId: string,
    kind: SandboxPat['kind'],
    name: string,
    linkedUserId: string,
    credId: string,
  ): SandboxPat {
    return {
      tokenId,
      isActive: true,
      kind,
      name,
      credId,
      linkedUserId,
      linkedAppId: '',
      orgId: this.orgId,
      dateCreated: new Date().toISOString(),
      permissionAssignments: [],
      publicKey: '',
    };
  }

  private accountOf(authToken: string): ServiceAccount {
    const account = this.accounts.get(authToken);
    if (!account) throw new Error('unknown service account token');
    return account;
  }

  /** `POST /auth/action/init`: a challenge bound to the caller and to the action it will authorise. */
  private init(account: ServiceAccount, body: string): Reply {
    const request = parseJsonObject(body);
    const { userActionPayload, userActionHttpMethod, userActionHttpPath, userActionServerKind } = request;
    if (typeof userActionPayload !== 'string') throw new HttpError(400, 'userActionPayload must be a string');
    if (typeof userActionHttpMethod !== 'string' || !METHODS.has(userActionHttpMethod)) {
      throw new HttpError(400, 'userActionHttpMethod must be an HTTP method');
    }
    if (
      typeof userActionHttpPath !== 'string' ||
      !userActionHttpPath.startsWith('/') ||
      /^\/\//.test(userActionHttpPath)
    ) {
      throw new HttpError(400, 'userActionHttpPath must be a path starting with /');
    }
    if (userActionServerKind !== undefined && userActionServerKind !== 'Api') {
      throw new HttpError(400, 'userActionServerKind must be Api');
    }
    const challengeIdentifier = opaque(32);
    const challenge = opaque(32);
    this.challenges.set(challengeIdentifier, {
      challenge,
      authToken: account.authToken,
      method: userActionHttpMethod,
      path: userActionHttpPath,
      payload: userActionPayload,
      expiresAt: Date.now() + this.options.challengeTtlMs,
      used: false,
    });
    return {
      status: 200,
      body: {
        supportedCredentialKinds: [{ kind: 'Key', factor: 'first', requiresSecondFactor: false }],
        challenge,
        challengeIdentifier,
        externalAuthenticationUrl: '',
        allowCredentials: {
          key: [...account.credentials.keys()].map((id) => ({ type: 'public-key', id })),
          webauthn: [],
        },
        userVerification: 'required',
        attestation: 'direct',
      },
    };
  }

  /** `POST /auth/action`: verifies the signed challenge and issues a single-use user action. */
  private action(account: ServiceAccount, body: string): Reply {
    const request = parseJsonObject(body);
    const { challengeIdentifier, firstFactor } = request;
    if (typeof challengeIdentifier !== 'string') throw new HttpError(400, 'challengeIdentifier must be a string');
    const challenge = this.challenges.get(challengeIdentifier);
    if (!challenge) throw new HttpError(400, 'Invalid challenge identifier');
    if (challenge.used) throw new HttpError(400, 'Challenge has already been used');
    if (Date.now() > challenge.expiresAt) throw new HttpError(400, 'Challenge has expired');
    if (challenge.authToken !== account.authToken) throw new HttpError(403, 'Challenge was issued to another caller');
    challenge.used = true;

    const factor = (typeof firstFactor === 'object' && firstFactor !== null ? firstFactor : {}) as Record<
      string,
      unknown
    >;
    if (factor.kind !== 'Key') throw new HttpError(400, 'firstFactor.kind must be Key');
    const assertion = (factor.credentialAssertion ?? {}) as Record<string, unknown>;
    const { credId, clientData, signature } = assertion;
    if (typeof credId !== 'string' || typeof clientData !== 'string' || typeof signature !== 'string') {
      throw new HttpError(400, 'credentialAssertion needs credId, clientData and signature strings');
    }
    const publicKey = account.credentials.get(credId);
    if (!publicKey) throw new HttpError(401, 'Credential not found or not active');
    if (!BASE64URL.test(clientData) || !BASE64URL.test(signature)) {
      throw new HttpError(401, 'Invalid assertion: clientData and signature must be base64url without padding');
    }
    const clientDataBytes = Buffer.from(clientData, 'base64url');
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(clientDataBytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new HttpError(401, 'Invalid assertion: clientData is not JSON');
    }
    if (parsed.type !== 'key.get') throw new HttpError(401, 'Invalid assertion: clientData.type must be key.get');
    if (parsed.challenge !== challenge.challenge) throw new HttpError(401, 'Invalid assertion: challenge mismatch');
    if (!verifySignature(publicKey, clientDataBytes, Buffer.from(signature, 'base64url'))) {
      throw new HttpError(401, 'Invalid signature');
    }

    const userAction = `ua.${opaque(32)}`;
    ISSUED.add(userAction);
    this.userActions.set(userAction, {
      authToken: account.authToken,
      method: challenge.method,
      path: challenge.path,
      payload: challenge.payload,
      expiresAt: Date.now() + this.options.userActionTtlMs,
      used: false,
    });
    return { status: 200, body: { userAction } };
  }

  /** `PUT /auth/pats/{id}/deactivate`: needs a user action for exactly this request. */
  private deactivate(
    account: ServiceAccount,
    req: IncomingMessage,
    path: string,
    body: string,
    tokenId: string,
  ): Reply {
    const header = req.headers['x-dfns-useraction'];
    if (typeof header !== 'string' || header === '') throw new HttpError(403, 'Missing user action signature');
    const action = this.userActions.get(header);
    if (!action) throw new HttpError(403, 'Invalid user action signature');
    if (action.used) throw new HttpError(400, 'User action has already been used');
    if (Date.now() > action.expiresAt) throw new HttpError(400, 'User action has expired');
    if (action.authToken !== account.authToken) throw new HttpError(403, 'User action was issued to another caller');
    if (action.method !== req.method || action.path !== path) {
      throw new HttpError(403, 'User action was signed for another method or path');
    }
    if (action.payload !== body) throw new HttpError(403, 'User action payload does not match the request body');
    action.used = true;

    const pat = this.pats.get(tokenId);
    if (!pat) throw new HttpError(404, `Personal access token ${tokenId} not found`);
    pat.isActive = false; // deactivating an inactive PAT is a no-op answered the same way
    return { status: 200, body: { ...pat } };
  }

  /** `GET /auth/pats/{id}` */
  private get(tokenId: string): Reply {
    const pat = this.pats.get(tokenId);
    if (!pat) throw new HttpError(404, `Personal access token ${tokenId} not found`);
    return { status: 200, body: { ...pat } };
  }
}

/**
 * Starts a sandbox on 127.0.0.1.
 *
 * @throws when the port is taken
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<DfnsSandbox> {
  const server = createServer({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return new DfnsSandbox(server, options);
}

/** Verifies a key-credential signature the way Dfns does, per key type (dfns-protocol.md, "Signatures"). */
function verifySignature(publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    switch (publicKey.asymmetricKeyType) {
      case 'ed25519':
        return verify(null, data, publicKey, signature);
      case 'ec':
        // DER only: a raw r‖s (IEEE-P1363) signature fails here, as it does at Dfns.
        return verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature);
      case 'rsa':
        return verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** The token ID in a `/auth/pats/{id}[/deactivate]` path, if it is one. */
function tokenIdOf(path: string): string | undefined {
  const match = PAT_PATH.exec(path.split('?')[0] as string);
  return match ? safeDecode(match[1] as string) : undefined;
}

/** `decodeURIComponent` that answers a malformed escape with the raw text instead of throwing. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseJsonObject(body: string): Record<string, unknown> {
  const parsed = safeJson(body);
  if (!parsed) throw new HttpError(400, 'Request body must be a JSON object');
  return parsed;
}

function safeJson(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, reply: Reply): void {
  const isText = typeof reply.body === 'string';
  const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  const headers: Record<string, string> = {
    ...(reply.body !== undefined && !isText ? { 'content-type': 'application/json' } : {}),
    ...reply.headers,
    'content-length': String(Buffer.byteLength(payload)),
  };
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** Sends the headers and half of the body, then stalls or resets: a failure after the answer started. */
function sendHalf(res: ServerResponse, reply: Reply, then: 'hang' | 'reset'): void {
  const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
  res.writeHead(reply.status, {
    'content-type': typeof reply.body === 'string' ? 'text/plain' : 'application/json',
    ...reply.headers,
    'content-length': String(Buffer.byteLength(payload)),
  });
  res.write(payload.slice(0, Math.max(1, Math.floor(payload.length / 2))));
  if (then === 'reset') setImmediate(() => res.socket?.resetAndDestroy());
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    // the client went away mid-body; what arrived is recorded
  }
  return Buffer.concat(chunks).toString('utf8');
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
