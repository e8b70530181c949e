/**
 * Removal of secrets from text we did not write (Dfns error messages), including pieces of them: a message that
 * quotes 70 characters of a 900-character bearer token leaks as much as one that quotes all of it.
 */

/** Shortest run of a secret's characters treated as a leak. */
export const REDACT_WINDOW = 12;

/** The windows of a secret, precomputed once (a bearer token is redacted in many messages). */
export class SecretWindows {
  readonly windows = new Set<string>();
  constructor(secret: string) {
    for (let i = 0; i + REDACT_WINDOW <= secret.length; i += 1) this.windows.add(secret.slice(i, i + REDACT_WINDOW));
  }
}

/**
 * Replaces every run of text that shares {@link REDACT_WINDOW} or more consecutive characters with one of the
 * secrets by `[redacted]`.
 *
 * @param text untrusted text, e.g. a Dfns error message (callers bound its length first: cost is linear in it)
 */
export function redact(text: string, secrets: SecretWindows[]): string {
  const marked = new Uint8Array(text.length);
  let any = false;
  for (let i = 0; i + REDACT_WINDOW <= text.length; i += 1) {
    const window = text.slice(i, i + REDACT_WINDOW);
    if (secrets.some((s) => s.windows.has(window))) {
      marked.fill(1, i, i + REDACT_WINDOW);
      any = true;
    }
  }
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
