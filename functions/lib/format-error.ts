/**
 * The one description of an error for a log line, a dead-letter `detail` or a CLI message. `JSON.stringify` of an
 * Error is `{}`, and `String()` of an AWS SDK error drops its code and HTTP status: an operator at 3 a.m. needs both,
 * and what Dfns support asks for (its `error.id`), and why it happened (the cause chain), and never a secret.
 */

/** The most an error description takes, in UTF-8 bytes. */
export const MAX_ERROR_BYTES = 2048;

/** How many causes are followed (a cause chain can be a cycle). */
const MAX_CAUSES = 5;

/** Separates the causes in a description. */
const CAUSED_BY = ' ← caused by ';

/**
 * Secret-shaped text that has no place in a description whatever produced it: a PEM block (up to its END line, or
 * to the next cause or the end when a message was cut), a JSON Web Token (a bearer token) wherever it starts, and
 * the credentials of an `Authorization`-style scheme.
 */
const SECRET_SHAPES: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*-----[\s\S]*?(?:-----END [A-Z0-9 ]*-----|(?= ← caused by )|$)/g, '[PEM block redacted]'],
  [/eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g, '[JWT redacted]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [redacted]'],
];

/** Keys whose values a thrown plain object never shows. */
const SECRET_KEYS = /authorization|token|secret|password|private|key|credential|cookie/i;

/**
 * Removes secret-shaped text (see {@link SECRET_SHAPES}) and cuts to {@link MAX_ERROR_BYTES}: what every error text
 * goes through before a log line, a dead-letter detail or a CLI message, including texts built from our own errors.
 */
export function boundErrorText(text: string): string {
  let out = text.replace(/\s+/g, ' ');
  for (const [shape, replacement] of SECRET_SHAPES) out = out.replace(shape, replacement);
  return cutUtf8(out, MAX_ERROR_BYTES);
}

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes, marker included, never inside a character: what is left ends with
 * `…[cut N bytes]`, N the bytes removed.
 */
export function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  // The marker's own length depends on N; reserve for the longest N the text can have. A cap smaller than the
  // marker is not one this module uses (the smallest is MAX_ERROR_BYTES).
  const reserve = Buffer.byteLength(`…[cut ${bytes} bytes]`);
  // Never inside a character: back up from the cut over UTF-8 continuation bytes (10xxxxxx) to a character's start.
  const buffer = Buffer.from(text);
  let end = Math.max(0, maxBytes - reserve);
  while (end > 0 && ((buffer[end] as number) & 0xc0) === 0x80) end -= 1;
  const kept = buffer.subarray(0, end).toString('utf8');
  return `${kept}…[cut ${bytes - Buffer.byteLength(kept)} bytes]`;
}

/** The name, code, HTTP status and Dfns error ID of one error, and its message. */
function describeOne(error: unknown): string {
  if (!(error instanceof Error)) {
    if (typeof error === 'string') return error;
    if (error === null || error === undefined) return `a thrown ${String(error)}`;
    if (typeof error !== 'object') return `a thrown ${typeof error}: ${String(error)}`;
    try {
      const shown = JSON.stringify(error, (key, value) => (key !== '' && SECRET_KEYS.test(key) ? '[redacted]' : value));
      return `a thrown ${error.constructor?.name ?? 'object'}: ${shown ?? ''}`;
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
    typeof fields.dfnsErrorId === 'string' && !error.message.includes(fields.dfnsErrorId)
      ? `Dfns error id ${fields.dfnsErrorId}`
      : undefined,
  ].filter((tag) => tag !== undefined);
  const name = error.name || error.constructor?.name || 'Error';
  // An AggregateError (Node's failed connection attempts) has its reasons in `errors`, often with no message.
  const inner = error instanceof AggregateError ? error.errors.slice(0, 3).map(describeOne).join('; ') : '';
  const message = [error.message, inner && `[${inner}]`].filter(Boolean).join(' ') || '(no message)';
  return `${name}${tags.length > 0 ? ` (${tags.join(', ')})` : ''}: ${message}`;
}

/**
 * Describes `error` in one line of at most {@link MAX_ERROR_BYTES} UTF-8 bytes: `Name (code, HTTP status, Dfns error
 * id): message`, then `← caused by …` for each cause (at most five), through {@link boundErrorText}; anything but the
 * shapes it removes must already be safe in a message (our errors redact what Dfns says).
 *
 * @param error anything thrown or rejected
 */
export function formatError(error: unknown): string {
  const parts = [describeOne(error)];
  const seen = new Set<unknown>([error]);
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined && !seen.has(cause)) {
    if (parts.length > MAX_CAUSES) {
      parts.push('… (more causes)');
      break;
    }
    seen.add(cause);
    parts.push(describeOne(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return boundErrorText(parts.join(CAUSED_BY));
}
