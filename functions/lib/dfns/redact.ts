/**
 * Removal of secrets from text we did not write (Dfns error messages), including pieces of them: a message that
 * quotes 70 characters of a 900-character bearer token leaks as much as one that quotes all of it. Pieces are found
 * disguised too (split, case-changed, encoded): see secret-search.ts.
 */
import { findSecretPieces, SecretIndex } from './secret-search.js';

/** Shortest run of a secret's characters treated as a leak (of the secret as written, or of its skeleton). */
export const REDACT_WINDOW = 12;

/** The windows of a secret, precomputed once (a bearer token is redacted in many messages). */
export class SecretWindows extends SecretIndex {
  /** @param secret the whole secret, e.g. the bearer token */
  constructor(secret: string) {
    super([secret], REDACT_WINDOW);
  }
}

/**
 * Replaces every span of text that holds {@link REDACT_WINDOW} or more consecutive characters of one of the secrets
 * by `[redacted]`: as written, split by whitespace, zero-width characters or punctuation, in another case, or
 * percent-, base64- or hex-encoded (then the encoded characters go). Overlapping and touching spans become one.
 *
 * @param text untrusted text, e.g. a Dfns error message (callers bound its length first: cost is linear in it)
 * @returns `text` itself when nothing in it is secret
 */
export function redact(text: string, secrets: SecretWindows[]): string {
  const marked = new Uint8Array(text.length);
  let any = false;
  findSecretPieces(text, secrets, (start, end) => {
    marked.fill(1, start, end);
    any = true;
  });
  if (!any) return text;
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    if (!marked[i]) out += text[i];
    else if (i === 0 || !marked[i - 1]) out += '[redacted]';
  }
  return out;
}

/** How much of a credential ID a message shows: enough to tell two apart, never the whole value. */
export const CRED_ID_SHOWN_CHARS = 8;

/** `credId` as messages show it: its first {@link CRED_ID_SHOWN_CHARS} characters and `…`. */
export function shortCredId(credId: string): string {
  return credId.length <= CRED_ID_SHOWN_CHARS ? credId : `${credId.slice(0, CRED_ID_SHOWN_CHARS)}…`;
}
