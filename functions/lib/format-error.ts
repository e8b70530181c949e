/**
 * The one description of an error for a log line, a dead-letter `detail` or a CLI message. `JSON.stringify` of an
 * Error is `{}`, and `String()` of an AWS SDK error drops its code and HTTP status: an operator at 3 a.m. needs both,
 * and what Dfns support asks for (its `error.id`), and why it happened (the cause chain), and never a secret.
 */

/** The most an error description takes, in UTF-8 bytes. */
export const MAX_ERROR_BYTES = 2048;

/** How many causes are followed (a cause chain can be a cycle). */
const MAX_CAUSES = 5;

/**
 * Secret-shaped text that has no place in a description whatever produced it: a PEM block (or its opening line, when
 * a message was cut) and a JSON Web Token (a bearer token).
 */
const SECRET_SHAPES: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*-----[\s\S]*?(-----END [A-Z ]*-----|$)/g, '[PEM block redacted]'],
  [/\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g, '[JWT redacted]'],
];

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes, marker included, never inside a character: what is left ends with
 * `…[cut N bytes]`, N the bytes removed.
 */
export function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  // The marker's own length depends on N; reserve for the longest N the text can have.
  const reserve = Buffer.byteLength(`…[cut ${bytes} bytes]`);
  let kept = text;
  const budget = Math.max(0, maxBytes - reserve);
  if (Buffer.byteLength(kept) > budget) {
    kept = Buffer.from(text).subarray(0, budget).toString('utf8');
    // A cut inside a character decodes to U+FFFD: drop it.
    kept = kept.replace(/\uFFFD+$/, '');
    if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  }
  return `${kept}…[cut ${bytes - Buffer.byteLength(kept)} bytes]`;
}

/** The name, code, HTTP status and Dfns error ID of one error, and its message. */
function describeOne(error: unknown): string {
  if (!(error instanceof Error)) {
    if (typeof error === 'string') return error;
    if (error === null || error === undefined) return `a thrown ${String(error)}`;
    if (typeof error !== 'object') return `a thrown ${typeof error}: ${String(error)}`;
    try {
      return `a thrown ${error.constructor?.name ?? 'object'}: ${JSON.stringify(error) ?? ''}`;
    } catch {
      return `a thrown ${error.constructor?.name ?? 'object'} that cannot be serialised`;
    }
  }
  const fields = error as Error & {
    code?: unknown;
    status?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    dfnsErrorId?: unknown;
  };
  const status = typeof fields.status === 'number' ? fields.status : fields.$metadata?.httpStatusCode;
  const tags = [
    typeof fields.code === 'string' && fields.code !== fields.name ? fields.code : undefined,
    typeof status === 'number' ? `HTTP ${status}` : undefined,
    typeof fields.dfnsErrorId === 'string' ? `Dfns error id ${fields.dfnsErrorId}` : undefined,
  ].filter((tag) => tag !== undefined);
  const name = error.name || error.constructor?.name || 'Error';
  return `${name}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}: ${error.message || '(no message)'}`;
}

/**
 * Describes `error` in one line of at most {@link MAX_ERROR_BYTES} UTF-8 bytes: `Name (code, HTTP status, Dfns error
 * id): message`, then `← caused by …` for each cause (at most five). PEM blocks and JSON Web Tokens are removed
 * whatever produced the text; anything else a message holds must already be safe (our errors redact what Dfns says).
 *
 * @param error anything thrown or rejected
 */
export function formatError(error: unknown): string {
  const parts = [describeOne(error)];
  const seen = new Set<unknown>([error]);
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined && !seen.has(cause) && parts.length <= MAX_CAUSES) {
    seen.add(cause);
    parts.push(describeOne(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  let text = parts.join(' ← caused by ').replace(/\s+/g, ' ');
  for (const [shape, replacement] of SECRET_SHAPES) text = text.replace(shape, replacement);
  return cutUtf8(text, MAX_ERROR_BYTES);
}
