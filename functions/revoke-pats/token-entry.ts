/**
 * One entry of a request's token list, as received → a token ID, a leaked access token that may stand for one, or
 * an invalid value with the rule it broke (CONTRACT section 4). Secret-shaped values never travel further as they
 * came: from here on they exist only as their fingerprint (secret-values.ts).
 */
import { TOKEN_ID_PATTERN } from '../lib/dfns/client.js';
import { jwtFingerprint, secretShapeOf, shownSecret, type SecretShape } from '../lib/secret-values.js';

/** An access token found where a token ID belongs, naming a token ID: revoked if it is of our own organisation. */
export interface LeakedToken {
  /** The token ID its claims name. */
  tokenId: string;
  /** The organisation its claims name, if any. */
  orgId?: string;
  /** `jwt sha256:<hex>`: how every record shows it. */
  receivedAs: string;
}

/** One entry of a request's token list, as received and as validated. */
export type TokenEntry =
  | { valid: true; tokenId: string; raw: unknown }
  | {
      valid: false;
      /** As received, or its shown form (`<8 characters>…sha256:<hex>`) when it looked like a secret. */
      raw: unknown;
      detail: string;
      /** Set for an access token naming a token ID; planning decides with the credential whether it is ours. */
      leaked?: LeakedToken;
    };

/** Longest JSON form of a rejected object or array kept as received, in characters; larger ones are described. */
export const MAX_RAW_VALUE_CHARS = 1_000;

/** Separators of token IDs in plain text: ASCII whitespace and commas. */
export const PLAIN_TEXT_SEPARATORS = /[\t\n\v\f\r ,]+/;

const ASCII_SPACE = new Set(['\t', '\n', '\v', '\f', '\r', ' ']);

/**
 * `value` without ASCII whitespace around it. A loop, not a regular expression: `[ \t…]+$` is tried from every space
 * of a long run inside the value, which is quadratic, and a sender controls the value.
 */
export function trimAsciiSpace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && ASCII_SPACE.has(value[start] as string)) start += 1;
  while (end > start && ASCII_SPACE.has(value[end - 1] as string)) end -= 1;
  return value.slice(start, end);
}

/** A PEM block in plain text (to its END line, or to the end of the text): one value, never split into words. */
const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]{1,64}-----[\s\S]*?(?:-----END [A-Z0-9 ]{1,64}-----|$)/g;

/**
 * Validates one token ID as received: ASCII whitespace around it is trimmed, nothing else is repaired.
 *
 * @returns the token ID, or the rule it broke (naming what is wrong, never guessing what was meant)
 */
export function validateTokenId(raw: unknown): { valid: true; tokenId: string } | { valid: false; detail: string } {
  if (typeof raw !== 'string')
    return { valid: false, detail: `not a string (got ${raw === null ? 'null' : typeof raw})` };
  const tokenId = trimAsciiSpace(raw);
  if (tokenId === '') return { valid: false, detail: 'empty' };
  if (TOKEN_ID_PATTERN.test(tokenId)) return { valid: true, tokenId };
  const shape = secretShapeOf(tokenId);
  if (shape) return { valid: false, detail: describeSecret(shape) };
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(tokenId)) {
    return { valid: false, detail: 'contains whitespace, control, zero-width or non-ASCII characters' };
  }
  if (/[/\\.%?#]/.test(tokenId)) return { valid: false, detail: 'contains path characters (/ \\ . % ? #)' };
  if (/[A-Z]/.test(tokenId))
    return { valid: false, detail: `contains upper-case letters; does not match ${TOKEN_ID_PATTERN.source}` };
  return { valid: false, detail: `does not match ${TOKEN_ID_PATTERN.source}` };
}

/** Why a secret-shaped value is not a token ID, without a word of the value. */
function describeSecret(shape: SecretShape): string {
  switch (shape.kind) {
    case 'jwt':
      return shape.claims.tokenId === undefined
        ? 'an access token (JWT) naming no token ID, e.g. a login token: it cannot be revoked by its value; shown only as a fingerprint'
        : `an access token (JWT) naming ${shape.claims.tokenId}: not a token ID; shown only as a fingerprint`;
    case 'pem':
      return 'a PEM block (key or certificate material), not a token ID; shown only as a fingerprint';
    case 'long':
      return 'longer than any token ID and possibly a secret; shown only as a fingerprint';
  }
}

/**
 * The values of a plain-text body: PEM blocks whole, the rest split at {@link PLAIN_TEXT_SEPARATORS}.
 *
 * @param text the body (after any envelope)
 */
export function plainTextValues(text: string): string[] {
  const blocks: string[] = [];
  const rest = text.replace(PEM_BLOCK, (block) => {
    blocks.push(block);
    return ' ';
  });
  return [...blocks, ...rest.split(PLAIN_TEXT_SEPARATORS).filter((piece) => piece !== '')];
}

/**
 * Validates one raw entry. A secret-shaped string is kept only as its shown form (an access token naming a token ID
 * also as {@link LeakedToken}); a rejected object or array is kept as received only if it is small and holds nothing
 * secret-shaped.
 */
export function entryOf(raw: unknown): TokenEntry {
  const result = validateTokenId(raw);
  if (result.valid) return { ...result, raw };
  if (typeof raw === 'string') {
    const value = trimAsciiSpace(raw);
    const shape = secretShapeOf(value);
    if (!shape) return { ...result, raw };
    const tokenId = shape.kind === 'jwt' ? shape.claims.tokenId : undefined;
    const orgId = shape.kind === 'jwt' ? shape.claims.orgId : undefined;
    return {
      ...result,
      raw: shownSecret(value),
      ...(tokenId === undefined
        ? {}
        : { leaked: { tokenId, ...(orgId === undefined ? {} : { orgId }), receivedAs: jwtFingerprint(value) } }),
    };
  }
  if (typeof raw !== 'object' || raw === null) return { ...result, raw };
  let json: string | undefined;
  try {
    json = JSON.stringify(raw);
  } catch {
    // nested too deep to serialise
  }
  const kind = Array.isArray(raw) ? 'array' : 'object';
  if (json === undefined) return { ...result, raw: `<${kind} not copied: nested too deep>` };
  if (json.length > MAX_RAW_VALUE_CHARS)
    return { ...result, raw: `<${kind} not copied: ${json.length} characters of JSON>` };
  if (hasSecretShapedString(raw))
    return { ...result, raw: `<${kind} not copied: holds a secret-shaped value, ${shownSecret(json)}>` };
  return { ...result, raw };
}

/** Whether any string inside a (small) JSON value looks like a secret. */
function hasSecretShapedString(value: unknown): boolean {
  if (typeof value === 'string') return secretShapeOf(trimAsciiSpace(value)) !== undefined;
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([key, inner]) => hasSecretShapedString(key) || hasSecretShapedString(inner));
}

/** Drops repeats: the same valid token ID, or the same invalid raw value (objects and arrays are all kept). */
export function dedupe(entries: TokenEntry[]): TokenEntry[] {
  const seen = new Set<unknown>();
  return entries.filter((entry) => {
    const key = entry.valid
      ? `id:${entry.tokenId}`
      : typeof entry.raw === 'object' && entry.raw !== null
        ? entry
        : `raw:${typeof entry.raw}:${String(entry.raw)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
