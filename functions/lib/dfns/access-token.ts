/**
 * What a Dfns access token (a JWT) says of itself: the organisation it belongs to and the token ID it stands for
 * (CONTRACT sections 3 and 4). Decoded only, never verified: Dfns publishes no key set to verify it with, and
 * nothing here grants anything (see the README, "Security model").
 */
import { TOKEN_ID_PATTERN } from './client.js';

/** The claim Dfns puts its own fields in. */
export const APP_METADATA_CLAIM = 'https://custom/app_metadata';

/** A JWT's shape: three base64url segments (the signature may be empty), the header starting `{"` once decoded. */
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Longest value read as a JWT, in characters: Dfns' tokens are about 1 KB; bounds the decoding work. */
const MAX_JWT_CHARS = 16_384;

/** The claims of an access token that matter here. */
export interface AccessTokenClaims {
  /** The token ID it names (`jti`, else `userId` or `tokenId` of the app metadata), when it is a token ID. */
  tokenId?: string;
  /** `orgId` of the app metadata (the organisation the token belongs to). */
  orgId?: string;
  /** `tokenKind` of the app metadata (`Pat`, `ServiceAccount`...), when a short string. */
  tokenKind?: string;
}

/** Whether `value` has the shape of a JWT (no decoding). */
export function isJwtShaped(value: string): boolean {
  return value.length <= MAX_JWT_CHARS && JWT_SHAPE.test(value);
}

/**
 * Reads the claims of a JWT-shaped value.
 *
 * @param value the token as received (already trimmed)
 * @returns its claims, or `undefined` when it is not a JWT (its header or payload is not a JSON object)
 */
export function readAccessToken(value: string): AccessTokenClaims | undefined {
  if (!isJwtShaped(value)) return undefined;
  const [header, payload] = value.split('.') as [string, string, string];
  if (!isObject(decodeSegment(header))) return undefined;
  const claims = decodeSegment(payload);
  if (!isObject(claims)) return undefined;
  const app = isObject(claims[APP_METADATA_CLAIM]) ? (claims[APP_METADATA_CLAIM] as Record<string, unknown>) : {};
  // The own-token rule of CONTRACT section 3: jti, else the app metadata's userId or tokenId, when a token ID.
  const tokenId = [claims.jti, app.userId, app.tokenId].find(
    (candidate): candidate is string => typeof candidate === 'string' && TOKEN_ID_PATTERN.test(candidate),
  );
  const orgId = shortString(app.orgId);
  const tokenKind = shortString(app.tokenKind);
  return {
    ...(tokenId === undefined ? {} : { tokenId }),
    ...(orgId === undefined ? {} : { orgId }),
    ...(tokenKind === undefined ? {} : { tokenKind }),
  };
}

function decodeSegment(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A claim kept only when it is a short line of printable ASCII (it may reach a log line). */
function shortString(value: unknown): string | undefined {
  return typeof value === 'string' && /^[\x21-\x7e]{1,128}$/.test(value) ? value : undefined;
}
