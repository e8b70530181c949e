/**
 * Values shaped like secrets, where an identifier was expected (CONTRACT section 4): a SIEM that forwards the matched
 * secret instead of its ID must not make us copy that secret into every log line, dead letter and CLI message. Such
 * a value is shown only as its first {@link SECRET_SHOWN_CHARS} characters, `…` and a SHA-256 fingerprint, which
 * lets an operator match it (`printf %s "$VALUE" | sha256sum`) without anyone reading it.
 *
 * Every check here is one linear pass: the text is the sender's, up to 256 KB, and a pattern that backtracks would
 * let one record hold the function past its deadline.
 */
import { createHash } from 'node:crypto';
import { isJwtShaped, readAccessToken, type AccessTokenClaims } from './dfns/access-token.js';

/** How many leading characters of a secret-shaped value are shown. */
export const SECRET_SHOWN_CHARS = 8;
/** A value longer than this, in characters, where a token ID (at most 31) belongs, is a secret (CONTRACT section 4). */
export const MAX_PLAIN_VALUE_CHARS = 64;
/**
 * A run of base64 or hex characters this long or longer, with letters and digits, is taken for key material too: a
 * secret wrapped at 64 columns, or a raw 32-byte key (44 characters of base64, 64 of hex), arrives in such pieces. No
 * token ID is this long (31 characters at most).
 */
export const MIN_SECRET_RUN_CHARS = 32;

/** What kind of secret a value looks like. */
export type SecretShape = { kind: 'jwt'; claims: AccessTokenClaims } | { kind: 'pem' } | { kind: 'long' };

const PEM_MARKER = /-----BEGIN [A-Z0-9 ]{1,64}-----/;
/** A token ID inside a longer value (a typo, a path around it): shown, so the rule it broke can be read. */
const TOKEN_ID_INSIDE = /to-[a-z0-9]{5}-[a-z0-9]{5}-/;
/** A UUID (message IDs, request IDs): base64-shaped and long, but never a secret here. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const FINGERPRINT_PREFIX = 'sha256:';

/** `sha256:<64 hex digits>` of the UTF-8 bytes of `value`. */
export function fingerprint(value: string): string {
  return `${FINGERPRINT_PREFIX}${createHash('sha256').update(value, 'utf8').digest('hex')}`;
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
 * Whether a run of base64, base64url or hex characters (no separator inside) looks like key material: at least
 * {@link MIN_SECRET_RUN_CHARS} characters, letters and digits both, and neither a UUID nor holding a token ID.
 */
function isSecretRun(run: string): boolean {
  return (
    run.length >= MIN_SECRET_RUN_CHARS &&
    /[0-9]/.test(run) &&
    /[A-Za-z]/.test(run) &&
    !UUID.test(run) &&
    !TOKEN_ID_INSIDE.test(run)
  );
}

/** A run of base64 characters holding a JWT: its dot-separated parts include one starting `eyJ` with two more after. */
function holdsJwt(run: string): boolean {
  const parts = run.split('.');
  for (let i = 0; i + 2 < parts.length; i += 1) {
    if ((parts[i] as string).includes('eyJ') && (parts[i + 1] as string).length > 0) return true;
  }
  return false;
}

/**
 * Whether a value received where a token ID belongs looks like a secret: a JWT (with its claims, read but not
 * verified), anything holding a PEM marker, any value over {@link MAX_PLAIN_VALUE_CHARS} characters, or a run of key
 * material (see {@link MIN_SECRET_RUN_CHARS}).
 *
 * @param value the value, trimmed of ASCII whitespace
 * @returns its shape, or `undefined` for a value that may be shown as it is
 */
export function secretShapeOf(value: string): SecretShape | undefined {
  if (isJwtShaped(value)) return { kind: 'jwt', claims: readAccessToken(value) ?? {} };
  if (PEM_MARKER.test(value)) return { kind: 'pem' };
  if (value.length > MAX_PLAIN_VALUE_CHARS) return { kind: 'long' };
  if (/^[A-Za-z0-9+/=_.-]+$/.test(value) && (holdsJwt(value) || isSecretRun(value))) return { kind: 'long' };
  return undefined;
}

/**
 * PEM blocks (to their END line, or to the end of the text), and maximal runs of base64, base64url or hex
 * characters and dots (each character is read once: a run ends where the class ends).
 */
const RUNS = /-----BEGIN [A-Z0-9 ]{1,64}-----[\s\S]*?(?:-----END [A-Z0-9 ]{1,64}-----|$)|[A-Za-z0-9+/=_.-]+/g;

/**
 * `text` with every secret-shaped run replaced by its shown form (see {@link shownSecret}): PEM blocks, runs holding
 * a JWT, and runs of key material. For text we carry but never parse: a refused body, a request's metadata, the
 * CLI's messages.
 *
 * @param text any text; the cost is linear in its length
 */
export function maskSecrets(text: string): string {
  return text.replace(RUNS, (run: string, at: number) => {
    // A fingerprint already shown stays as it is: masking is idempotent.
    if (text.endsWith(FINGERPRINT_PREFIX, at)) return run;
    if (run.startsWith('-----BEGIN ')) return shownSecret(run);
    // Dots join a JWT's parts, and also words of a sentence: only the parts of a JWT are masked with it.
    if (holdsJwt(run)) return shownSecret(run);
    return run
      .split('.')
      .map((part) => (isSecretRun(part) ? shownSecret(part) : part))
      .join('.');
  });
}
