/**
 * One SQS record body → a revocation request (CONTRACT section 4): the JSON request with `tokenIds` or `tokenId`.
 *
 * Token IDs are validated one by one: a bad one is reported with the rule it broke and the valid IDs of the same
 * request are still processed. A body that is not a request at all (not JSON, no token ID, too large) is refused
 * whole with a reason an operator can act on.
 */
import { TOKEN_ID_PATTERN } from '../lib/dfns/client.js';

/** At most this many token IDs per message (CONTRACT section 4). */
export const MAX_TOKEN_IDS = 100;
/** At most this many bytes per message body (CONTRACT section 4; SQS' classic limit). */
export const MAX_BODY_BYTES = 256 * 1024;
/** Longest kept metadata string, in characters: they go to every audit line and dead-letter message. */
export const MAX_METADATA_CHARS = 1_000;

/** One entry of a request's token list, as received and as validated. */
export type TokenEntry =
  | { valid: true; tokenId: string; raw: unknown }
  | { valid: false; raw: unknown; detail: string };

/** A parsed revocation request. */
export interface RevocationRequest {
  /** The token list in order, without exact repeats. */
  entries: TokenEntry[];
  incidentId?: string;
  reason?: string;
  requestedBy?: string;
  /** The request asks for a dry run (it can only make processing safer). */
  dryRun: boolean;
  /** Fields that were ignored, with why (e.g. `incidentId ignored: must be a string`). */
  warnings: string[];
}

/** The body is not a usable request; the record is dead-lettered as `invalid` with this detail. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

const ASCII_WHITESPACE = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g;

/**
 * Validates one token ID as received: ASCII whitespace around it is trimmed, nothing else is repaired.
 *
 * @returns the token ID, or the rule it broke (naming what is wrong, never guessing what was meant)
 */
export function validateTokenId(raw: unknown): { valid: true; tokenId: string } | { valid: false; detail: string } {
  if (typeof raw !== 'string') return { valid: false, detail: `not a string (got ${raw === null ? 'null' : typeof raw})` };
  const tokenId = raw.replace(ASCII_WHITESPACE, '');
  if (tokenId === '') return { valid: false, detail: 'empty' };
  if (TOKEN_ID_PATTERN.test(tokenId)) return { valid: true, tokenId };
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(tokenId)) {
    return { valid: false, detail: 'contains whitespace, control, zero-width or non-ASCII characters' };
  }
  if (/[/\\.%?#]/.test(tokenId)) return { valid: false, detail: 'contains path characters (/ \\ . % ? #)' };
  if (/[A-Z]/.test(tokenId)) return { valid: false, detail: `contains upper-case letters; does not match ${TOKEN_ID_PATTERN.source}` };
  return { valid: false, detail: `does not match ${TOKEN_ID_PATTERN.source}` };
}

/**
 * Parses a record body.
 *
 * @param body the SQS message body
 * @throws {InvalidRequestError} when the body is too large, not JSON, not an object, has no token ID, more than
 *   {@link MAX_TOKEN_IDS} of them, a `tokenIds` that is not an array, or a `dryRun` that is not a boolean
 */
export function parseRequest(body: string): RevocationRequest {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_BODY_BYTES) {
    throw new InvalidRequestError(`body is ${bytes} bytes; at most ${MAX_BODY_BYTES} bytes per message: split the request`);
  }
  if (body.trim() === '') throw new InvalidRequestError('body is empty: no token ID');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidRequestError('body is not JSON; expected {"tokenIds":["to-..."], ...}');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidRequestError('body must be a JSON object with tokenIds (array) or tokenId (string)');
  }
  const request = json as Record<string, unknown>;

  const raws: unknown[] = [];
  if ('tokenIds' in request) {
    if (!Array.isArray(request.tokenIds)) throw new InvalidRequestError('tokenIds must be an array of token ID strings');
    raws.push(...request.tokenIds);
  }
  if ('tokenId' in request) raws.push(request.tokenId);
  if (raws.length === 0) throw new InvalidRequestError('no token ID: give tokenIds (array) or tokenId (string)');
  if (raws.length > MAX_TOKEN_IDS) {
    throw new InvalidRequestError(`${raws.length} token IDs; at most ${MAX_TOKEN_IDS} per message: split the request`);
  }

  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') {
    // Someone may have meant a dry run: never guess towards deactivation.
    throw new InvalidRequestError('dryRun must be a boolean (true or false)');
  }

  const warnings: string[] = [];
  const metadata = (field: 'incidentId' | 'reason' | 'requestedBy') => {
    const value = request[field];
    if (value === undefined) return {};
    if (typeof value !== 'string') {
      warnings.push(`${field} ignored: must be a string`);
      return {};
    }
    return { [field]: value.slice(0, MAX_METADATA_CHARS) };
  };

  return {
    entries: dedupe(raws.map((raw) => ({ ...validateTokenId(raw), raw }) as TokenEntry)),
    ...metadata('incidentId'),
    ...metadata('reason'),
    ...metadata('requestedBy'),
    dryRun: request.dryRun === true,
    warnings,
  };
}

/** Drops repeats: the same valid token ID, or the same invalid raw value. */
function dedupe(entries: TokenEntry[]): TokenEntry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = entry.valid ? `id:${entry.tokenId}` : `raw:${JSON.stringify(entry.raw)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
