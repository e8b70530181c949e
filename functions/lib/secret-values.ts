/**
 * Values shaped like secrets, where an identifier was expected (CONTRACT section 4): a SIEM that forwards the matched
 * secret instead of its ID must not make us copy that secret into every log line, dead letter and CLI message. Such
 * a value is shown only as its first {@link SECRET_SHOWN_CHARS} characters, `…` and a SHA-256 fingerprint, which
 * lets an operator match it (`printf %s "$VALUE" | sha256sum`) without anyone reading it.
 */
import { createHash } from 'node:crypto';
import { isJwtShaped, readAccessToken, type AccessTokenClaims } from './dfns/access-token.js';

/** How many leading characters of a secret-shaped value are shown. */
export const SECRET_SHOWN_CHARS = 8;
/** A value longer than this, in characters, where a token ID (at most 35) belongs, is treated as a secret. */
export const MAX_PLAIN_VALUE_CHARS = 64;

/** What kind of secret a value looks like. */
export type SecretShape = { kind: 'jwt'; claims: AccessTokenClaims } | { kind: 'pem' } | { kind: 'long' };

const PEM_MARKER = /-----BEGIN [A-Z0-9 ]{1,64}-----/;

/** `sha256:<64 hex digits>` of the UTF-8 bytes of `value`. */
export function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

/** How a leaked access token is recorded (`receivedAs`): `jwt sha256:<hex>`, never the token. */
export function jwtFingerprint(token: string): string {
  return `jwt ${fingerprint(token)}`;
}

/**
 * A secret-shaped value as every output shows it: `<first 8 characters>…sha256:<hex>`, the shown characters limited
 * to letters, digits, punctuation and symbols (any other is `?`), so the prefix carries no control, format or
 * space character into a line.
 */
export function shownSecret(value: string): string {
  const head = Array.from(value.slice(0, 2 * SECRET_SHOWN_CHARS))
    .slice(0, SECRET_SHOWN_CHARS)
    .map((c) => (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c) ? c : '?'))
    .join('');
  return `${head}…${fingerprint(value)}`;
}

/**
 * Whether a value received where a token ID belongs looks like a secret: a JWT (with its claims, read but not
 * verified), anything holding a PEM marker, or any value over {@link MAX_PLAIN_VALUE_CHARS} characters.
 *
 * @param value the value, trimmed of ASCII whitespace
 * @returns its shape, or `undefined` for a value that may be shown as it is
 */
export function secretShapeOf(value: string): SecretShape | undefined {
  if (isJwtShaped(value)) return { kind: 'jwt', claims: readAccessToken(value) ?? {} };
  if (PEM_MARKER.test(value)) return { kind: 'pem' };
  if (value.length > MAX_PLAIN_VALUE_CHARS) return { kind: 'long' };
  return undefined;
}

/** Secrets by their own shape: PEM blocks (to their END line, or to the end of the text) and JWT-shaped runs. */
const SHAPED_SECRETS = [
  String.raw`-----BEGIN [A-Z0-9 ]{1,64}-----[\s\S]*?(?:-----END [A-Z0-9 ]{1,64}-----|$)`,
  String.raw`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`,
];
const SHAPED_RUNS = new RegExp(SHAPED_SECRETS.join('|'), 'g');
/** ...and runs of more than {@link MAX_PLAIN_VALUE_CHARS} base64 or hex characters, which may be raw keys. */
const ALL_RUNS = new RegExp([...SHAPED_SECRETS, `[A-Za-z0-9+/=_-]{${MAX_PLAIN_VALUE_CHARS + 1},}`].join('|'), 'g');

/**
 * `text` with every secret-shaped run replaced by its shown form (see {@link shownSecret}), for text we carry but
 * never parse: a refused body (`longRuns`: raw keys too), a request's `reason` (only what has a secret's own shape:
 * a long word in a human's text is not a secret).
 *
 * @param text any text; the cost is linear in its length
 */
export function maskSecrets(text: string, { longRuns }: { longRuns: boolean }): string {
  return text.replace(longRuns ? ALL_RUNS : SHAPED_RUNS, (run) => shownSecret(run));
}
