/**
 * Dfns access tokens as the real service issues them, for the sandbox and the tests: a JWT signed with Ed25519.
 *
 * The shape was read from Dfns access tokens published in public code (a service-account token of 2025 and login
 * tokens of 2024–2025, decoded, never used) and from `@dfns/sdk`, which reads `orgId` from the app metadata claim:
 *
 * - header `{"typ":"JWT","alg":"EdDSA"}` (no `kid`); a 64-byte Ed25519 signature;
 * - claims, in this order: `iss` (`auth.dfns.io`), `aud` (`dfns:auth:user`), `sub` (the organisation ID), `jti`,
 *   `https://custom/username`, `https://custom/app_metadata` (`userId`, `orgId`, `tokenKind`), `iat`, `exp`;
 * - a service-account token: `jti` its token ID (`to-…`), `userId` the service account's user (`us-…`), `username`
 *   the service account's name, `tokenKind` `ServiceAccount`, valid 730 days;
 * - a login token: `jti` a `uj-…` ID (no token ID anywhere), `userId` the user, `username` their login (an email),
 *   `tokenKind` `Token`, valid 6 hours.
 *
 * A PAT's token is modelled on the service account's (`tokenKind` `Pat`, the PAT kind of the API; `userId` the
 * owner): no published PAT token was found, so that part is inferred.
 */
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { dfnsId } from './ids.js';

/** The claim Dfns puts its own fields in. */
export const APP_METADATA_CLAIM = 'https://custom/app_metadata';
/** The claim naming the user (a login, or a service account's name). */
export const USERNAME_CLAIM = 'https://custom/username';
/** `iss` of Dfns' production tokens (staging used `auth.dfns.ninja`, then `auth.dfns.wtf`). */
export const DFNS_ISSUER = 'auth.dfns.io';
/** `aud` of every Dfns access token seen. */
export const DFNS_AUDIENCE = 'dfns:auth:user';

/** `tokenKind` values: the kinds of the API's token objects (dfns-protocol.md); `Token` is a login session. */
export type DfnsTokenKind = 'Pat' | 'ServiceAccount' | 'Token' | 'Code' | 'Recovery' | 'Temp' | 'Application';

const DAY_SECONDS = 86_400;
/** Lifetime of a login token, as seen; also of the kinds not listed in {@link LIFETIME_SECONDS}. */
const SESSION_SECONDS = 6 * 3_600;

/** How long a token of each kind is valid, in seconds, when not said otherwise. */
const LIFETIME_SECONDS: Record<string, number> = {
  ServiceAccount: 730 * DAY_SECONDS, // as seen
  Pat: 730 * DAY_SECONDS, // the most `daysValid` allows; Dfns' default is not published
};

/** The claims of a Dfns access token, in Dfns' order. */
export interface DfnsAccessTokenClaims {
  iss: string;
  aud: string;
  /** The organisation ID. */
  sub: string;
  /** The token ID (`to-…`) of a PAT or service-account token; a `uj-…` ID for a login token. */
  jti: string;
  [USERNAME_CLAIM]: string;
  [APP_METADATA_CLAIM]: { userId: string; orgId: string; tokenKind: string; [extra: string]: unknown };
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

/** What an access token is for; everything has a realistic default. */
export interface AccessTokenSpec {
  /** @default 'Pat' */
  tokenKind?: DfnsTokenKind | (string & {});
  /** `sub` and `app_metadata.orgId`. */
  orgId: string;
  /** `jti`. @default a fresh `to-…` ID, or a fresh `uj-…` ID for a login token (`Token`) */
  jti?: string;
  /** `app_metadata.userId`. @default a fresh `us-…` ID */
  userId?: string;
  /** `https://custom/username`. @default an e-mail address, or `Service Account` for a service account */
  username?: string;
  /** `iat`. @default now */
  issuedAt?: Date;
  /** `exp` − `iat`, in seconds. @default 730 days (PAT, service account), 6 hours (login and the rest) */
  lifetimeSeconds?: number;
  /** Added to the app metadata after Dfns' three fields (e.g. a `tokenId`), overriding them when named alike. */
  appMetadata?: Record<string, unknown>;
  /** Added to the claims, overriding them when named alike; `undefined` removes a claim (e.g. `{ jti: undefined }`). */
  claims?: Record<string, unknown>;
}

/** The claims of a token for `spec`, in Dfns' order. */
export function accessTokenClaims(spec: AccessTokenSpec): DfnsAccessTokenClaims {
  const tokenKind = spec.tokenKind ?? 'Pat';
  const iat = Math.floor((spec.issuedAt ?? new Date()).getTime() / 1000);
  const userId = spec.userId ?? dfnsId('us', 16);
  const claims: DfnsAccessTokenClaims = {
    iss: DFNS_ISSUER,
    aud: DFNS_AUDIENCE,
    sub: spec.orgId,
    jti: spec.jti ?? dfnsId(tokenKind === 'Token' ? 'uj' : 'to', 16),
    [USERNAME_CLAIM]:
      spec.username ?? (tokenKind === 'ServiceAccount' ? 'Service Account' : `${userId.slice(-8)}@example.com`),
    [APP_METADATA_CLAIM]: { userId, orgId: spec.orgId, tokenKind, ...spec.appMetadata },
    iat,
    exp: iat + (spec.lifetimeSeconds ?? LIFETIME_SECONDS[tokenKind] ?? SESSION_SECONDS),
  };
  return { ...claims, ...spec.claims } as DfnsAccessTokenClaims;
}

/** Signs access tokens with an Ed25519 key of its own, as Dfns' auth service does. */
export class AccessTokenSigner {
  /** The public half, to verify what this signer issued. */
  readonly publicKey: KeyObject;
  readonly #privateKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.publicKey = pair.publicKey;
    this.#privateKey = pair.privateKey;
  }

  /** The JWT for `claims` (serialised in their own order). */
  sign(claims: DfnsAccessTokenClaims | Record<string, unknown>): string {
    const signingInput = `${segment({ typ: 'JWT', alg: 'EdDSA' })}.${segment(claims)}`;
    return `${signingInput}.${sign(null, Buffer.from(signingInput), this.#privateKey).toString('base64url')}`;
  }
}

/**
 * The header and claims of a JWT, decoded and not verified.
 *
 * @throws when `token` is not three base64url segments whose first two are JSON objects
 */
export function decodeAccessToken(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a JWT: it needs three segments');
  const [header, claims] = parts.slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  if (!isObject(header) || !isObject(claims)) throw new Error('not a JWT: header and claims must be JSON objects');
  return { header, claims };
}

/** Whether `token` carries a valid Ed25519 signature by `publicKey` (what Dfns' own services check). */
export function verifyAccessToken(token: string, publicKey: KeyObject): boolean {
  const [header, claims, signature] = token.split('.');
  if (header === undefined || claims === undefined || signature === undefined) return false;
  return verify(null, Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature, 'base64url'));
}

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
