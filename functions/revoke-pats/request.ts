/**
 * One SQS record body → a revocation request (CONTRACT section 4). Accepted, detected by shape and unwrapped one
 * level: the JSON request (`tokenIds` or `tokenId`), an SNS notification with raw delivery off (the request, or
 * plain text, in the string `Message`), an EventBridge event (the request in `detail`), and plain text holding
 * token IDs separated by whitespace or commas. Base64 is decoded only when the record's `contentEncoding` message
 * attribute says `base64`, never guessed.
 *
 * Token IDs are validated one by one: a bad one is reported with the rule it broke and the valid IDs of the same
 * request are still processed. A body that is not a request at all (not JSON, no token ID, too large) is refused
 * whole with a reason an operator can act on.
 */
import * as z from 'zod';
import { TOKEN_ID_PATTERN } from '../lib/dfns/client.js';
import { maskSecrets } from '../lib/secret-values.js';
import { dedupe, entryOf, plainTextValues, type TokenEntry } from './token-entry.js';

/** At most this many token IDs per message (CONTRACT section 4). */
export const MAX_TOKEN_IDS = 100;
/** At most this many bytes per message body (CONTRACT section 4; SQS' classic limit). */
export const MAX_BODY_BYTES = 256 * 1024;
/** Longest kept metadata string, in characters: they go to every audit line and dead-letter message. */
export const MAX_METADATA_CHARS = 1_000;

/** Which format a request came in: its envelope, or plain text. */
export type RequestSource = 'json' | 'sns' | 'eventbridge' | 'text';

/**
 * What an envelope says of where a request came from: the SNS topic, or the EventBridge event's source and account.
 * Claims only (the body is the sender's own text, and anyone who may send can write these), labelled so wherever
 * they are shown.
 */
export interface EnvelopeClaims {
  claimedTopicArn?: string;
  claimedEventSource?: string;
  claimedEventAccount?: string;
}

/** A claim is kept only when it is a short line of printable ASCII: never a place to smuggle text into a line. */
const CLAIM = /^[\x21-\x7e]{1,256}$/;

function claimsOf(fields: Record<keyof EnvelopeClaims, unknown>): EnvelopeClaims {
  const out: EnvelopeClaims = {};
  for (const [key, value] of Object.entries(fields) as Array<[keyof EnvelopeClaims, unknown]>) {
    if (typeof value === 'string' && CLAIM.test(value)) out[key] = value;
  }
  return out;
}

/** A parsed revocation request: its metadata (continuation fields included), entries and warnings. */
export interface RevocationRequest extends Omit<RequestMetadata, 'dryRun'> {
  /** What its envelope claims of its origin (SNS, EventBridge). */
  claims?: EnvelopeClaims;
  /** The format it came in (`+base64` when a message attribute said so). */
  source: string;
  /** The token list in order, without exact repeats. */
  entries: TokenEntry[];
  /** The request asks for a dry run (it can only make processing safer). */
  dryRun: boolean;
  /** Fields that were ignored, with why (e.g. `incidentId ignored: must be a string`). */
  warnings: string[];
}

/** The metadata of a request, kept with its dead-letter message even when the request itself is refused. */
export interface RequestMetadata {
  incidentId?: string;
  reason?: string;
  requestedBy?: string;
  /** Present only when the request said `dryRun: true`. */
  dryRun?: true;
  /** Continuations (CONTRACT sections 4 and 8): the `messageId` of the original record, the same along the chain. */
  continuationOf?: string;
  /** ISO 8601 time of the original record's first receive. */
  firstRequestedAt?: string;
  /** 1 for the first continuation of a request, then 2, 3... */
  continuationCount?: number;
  /** The original record's `SenderId` and `SentTimestamp` (ISO 8601), as the continuation claims them. */
  originalSenderId?: string;
  originalSentAt?: string;
  /** Token ID → `jwt sha256:<hex>`: the tokens the original request named by a leaked access token. */
  receivedAs?: Record<string, string>;
}

/** The continuation fields and what each must be; anything else is ignored with a warning. */
const CONTINUATION_FIELDS = {
  continuationOf: z.string().min(1).max(128),
  firstRequestedAt: z.iso.datetime(),
  continuationCount: z.number().int().min(1).max(1_000_000),
  originalSenderId: z.string().min(1).max(256),
  originalSentAt: z.iso.datetime(),
  receivedAs: z.record(z.string().regex(TOKEN_ID_PATTERN), z.string().regex(/^jwt sha256:[0-9a-f]{64}$/)),
} as const;

/** The body is not a usable request; the record is dead-lettered as `invalid` with this detail. */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  constructor(
    message: string,
    /** What could be read of the request's metadata, for the dead-letter message. */
    readonly metadata: RequestMetadata = {},
    /** The format, when it could be told. */
    readonly source?: string,
  ) {
    super(message);
  }
}

/**
 * Parses a record body in any accepted format.
 *
 * @param body the SQS message body
 * @param options.contentEncoding the record's `contentEncoding` message attribute: `base64` decodes the body first
 * @throws {InvalidRequestError} when the body is too large, badly encoded, broken JSON, an envelope without a
 *   request, has no token ID, more than {@link MAX_TOKEN_IDS} different ones, a `tokenIds` that is not an array, or a
 *   `dryRun` that is not a boolean (`null` counts as not set); the error carries the metadata it could read
 */
export function parseRequest(body: string, options: { contentEncoding?: string } = {}): RevocationRequest {
  if (typeof body !== 'string') throw new InvalidRequestError('body is not a string: no token ID');
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_BODY_BYTES) {
    // Refused whole, but its metadata (incidentId, dryRun...) still belongs in the dead-letter message.
    const json = parseJson(body.replace(/^\uFEFF/, ''));
    const metadata = isObject(json) ? readMetadata(json, []) : {};
    throw new InvalidRequestError(
      `body is ${bytes} bytes; at most ${MAX_BODY_BYTES} bytes per message: split the request`,
      metadata,
    );
  }
  const { text, encoding } = decode(body, options.contentEncoding);
  // A byte-order mark is not content (editors and some SIEM exports add one).
  const content = text.replace(/^\uFEFF/, '');
  if (content.trim() === '') throw new InvalidRequestError('body is empty: no token ID');
  try {
    const { value, source, claims } = unwrap(content);
    const label = encoding ? `${source}+${encoding}` : source;
    const request = typeof value === 'string' ? textRequest(value, label) : objectRequest(value, label);
    return claims && Object.keys(claims).length > 0 ? { ...request, claims } : request;
  } catch (error) {
    if (error instanceof InvalidRequestError && encoding && error.source && !error.source.endsWith(`+${encoding}`)) {
      throw new InvalidRequestError(error.message, error.metadata, `${error.source}+${encoding}`);
    }
    throw error;
  }
}

/** Decodes the body as its `contentEncoding` attribute says; nothing else is ever decoded. */
function decode(body: string, contentEncoding: string | undefined): { text: string; encoding?: string } {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding === undefined || encoding === '' || encoding === 'identity') return { text: body };
  if (encoding !== 'base64') {
    // The attribute is the sender's text: shown only when short and printable.
    const shown = /^[\x20-\x7e]{1,32}$/.test(contentEncoding ?? '') ? `"${contentEncoding}"` : 'of this record';
    throw new InvalidRequestError(`contentEncoding ${shown} is not supported; use base64 or none`);
  }
  const compact = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new InvalidRequestError('contentEncoding is base64 but the body is not base64');
  }
  try {
    return {
      text: new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64')),
      encoding: 'base64',
    };
  } catch {
    throw new InvalidRequestError('contentEncoding is base64 but the decoded body is not UTF-8 text');
  }
}

/** An SNS notification as SNS delivers it to SQS with raw message delivery off (the fields we rely on). */
const snsNotification = z.looseObject({ Type: z.literal('Notification'), Message: z.string() });

/** An EventBridge event as a rule delivers it to SQS (the fields that tell it apart). */
const eventBridgeEvent = z.looseObject({ 'detail-type': z.string(), source: z.string(), detail: z.unknown() });

/** Detects the format by shape (zod schemas of the envelopes) and unwraps one level. */
function unwrap(text: string): {
  value: Record<string, unknown> | string;
  source: RequestSource;
  claims?: EnvelopeClaims;
} {
  const json = parseJson(text);
  if (json === undefined) {
    // Broken JSON is refused, not split into words that would all be "invalid" token IDs.
    if (/^\s*[[{"]/.test(text))
      throw new InvalidRequestError('body is not JSON; expected {"tokenIds":["to-..."], ...}');
    return { value: text, source: 'text' };
  }
  if (typeof json === 'string') return { value: json, source: 'text' };
  if (!isObject(json))
    throw new InvalidRequestError('body must be a JSON object with tokenIds (array) or tokenId (string)');
  // A body naming token IDs itself is a request, whatever other fields it has (Type, detail-type...): an envelope
  // guess must never hide the token IDs it names.
  if ((json.tokenIds ?? json.tokenId ?? undefined) !== undefined) return { value: json, source: 'json' };
  const sns = snsNotification.safeParse(json);
  if (sns.success) {
    // SNS with raw delivery off: the request (or plain text) is the string Message. One level only.
    const message = sns.data.Message;
    const claims = claimsOf({
      claimedTopicArn: json.TopicArn,
      claimedEventSource: undefined,
      claimedEventAccount: undefined,
    });
    const inner = parseJson(message);
    if (inner === undefined) {
      if (/^\s*[[{]/.test(message))
        throw new InvalidRequestError('SNS Message is not JSON; expected a request', {}, 'sns');
      return { value: message, source: 'sns', claims };
    }
    if (typeof inner === 'string') return { value: message, source: 'sns', claims }; // one level: a JSON string stays text
    if (!isObject(inner))
      throw new InvalidRequestError('SNS Message must hold a request object or plain token IDs', {}, 'sns');
    return { value: inner, source: 'sns', claims };
  }
  const event = eventBridgeEvent.safeParse(json);
  if (event.success) {
    if (!isObject(event.data.detail))
      throw new InvalidRequestError('EventBridge detail must be a request object', {}, 'eventbridge');
    const claims = claimsOf({
      claimedTopicArn: undefined,
      claimedEventSource: event.data.source,
      claimedEventAccount: json.account,
    });
    return { value: event.data.detail, source: 'eventbridge', claims };
  }
  return { value: json, source: 'json' };
}

/** Plain text: token IDs separated by whitespace or commas; no metadata. */
function textRequest(text: string, source: string): RevocationRequest {
  // ASCII whitespace only (CONTRACT section 4): a non-breaking or zero-width space stays in the value and makes it
  // invalid, exactly as in a JSON request, rather than being silently taken for a separator.
  const raws = plainTextValues(text);
  if (raws.length === 0) throw new InvalidRequestError('body holds no token ID', {}, source);
  const entries = limited(dedupe(raws.map((raw) => entryOf(raw))), {}, source);
  return { source, entries, dryRun: false, warnings: [] };
}

/** Most entries (valid or not) read from one message, to bound the work on a hostile body. */
const MAX_ENTRIES = 1_000;

/** Applies the limit of {@link MAX_TOKEN_IDS} valid token IDs (and of entries in all) per message. */
function limited(entries: TokenEntry[], metadata: RequestMetadata, source: string): TokenEntry[] {
  // A leaked access token names a token ID too: it counts against the limit as the ID it stands for.
  const valid = entries.filter((e) => e.valid || e.leaked).length;
  if (valid > MAX_TOKEN_IDS) {
    throw new InvalidRequestError(
      `${valid} token IDs; at most ${MAX_TOKEN_IDS} per message: split the request`,
      metadata,
      source,
    );
  }
  if (entries.length > MAX_ENTRIES) {
    throw new InvalidRequestError(`${entries.length} entries; at most ${MAX_ENTRIES} per message`, metadata, source);
  }
  return entries;
}

/** The JSON request object (after any envelope). */
function objectRequest(request: Record<string, unknown>, source: string): RevocationRequest {
  const warnings: string[] = [];
  const metadata = readMetadata(request, warnings);
  const refuse = (message: string): never => {
    throw new InvalidRequestError(message, metadata, source);
  };

  // null is what serialisers write for "not set".
  const tokenIds = request.tokenIds ?? undefined;
  const tokenId = request.tokenId ?? undefined;
  const raws: unknown[] = [];
  if (tokenIds !== undefined) {
    if (!Array.isArray(tokenIds)) refuse('tokenIds must be an array of token ID strings');
    for (const raw of tokenIds as unknown[]) raws.push(raw); // not push(...): a huge array would overflow the stack
  }
  if (tokenId !== undefined) raws.push(tokenId);
  if (raws.length === 0) refuse('no token ID: give tokenIds (array) or tokenId (string)');

  const dryRun = request.dryRun ?? false;
  if (typeof dryRun !== 'boolean') {
    // Someone may have meant a dry run: never guess towards deactivation.
    refuse('dryRun must be a boolean (true or false)');
  }

  const entries = limited(dedupe(raws.map((raw) => entryOf(raw))), metadata, source);
  return { source, entries, ...metadata, dryRun: dryRun === true, warnings };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readMetadata(request: Record<string, unknown>, warnings: string[]): RequestMetadata {
  const out: RequestMetadata = {};
  for (const field of ['incidentId', 'reason', 'requestedBy'] as const) {
    const value = request[field] ?? undefined;
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      warnings.push(`${field} ignored: must be a string`);
      continue;
    }
    // A leaked secret pasted into a reason must not reach every audit line: only its fingerprint does.
    const masked = maskSecrets(value);
    if (masked !== value) warnings.push(`${field}: a secret-shaped value is shown only as its fingerprint`);
    if (masked.length > MAX_METADATA_CHARS) warnings.push(`${field} cut to ${MAX_METADATA_CHARS} characters`);
    out[field] = cut(masked, MAX_METADATA_CHARS);
  }
  if (request.dryRun === true) out.dryRun = true;
  for (const [field, schema] of Object.entries(CONTINUATION_FIELDS) as Array<
    [keyof typeof CONTINUATION_FIELDS, z.ZodType]
  >) {
    const value = request[field] ?? undefined;
    if (value === undefined) continue;
    const parsed = schema.safeParse(value);
    if (parsed.success) Object.assign(out, { [field]: parsed.data });
    else warnings.push(`${field} ignored: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  }
  return out;
}

/** The first `max` UTF-16 units of `text`, without splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = text.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(head) ? head.slice(0, -1) : head;
}
