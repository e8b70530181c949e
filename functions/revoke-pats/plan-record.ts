/**
 * The local half of a batch: one SQS record → a plan. The body is parsed; continuation fields from anyone but the
 * function's own role are dropped; and each token is decided in the CONTRACT section 5 order (`invalid`,
 * `protected`, `dry_run`, `already_inactive` known to this container for this request), the rest left to Dfns. The
 * record's attribution (who sent it and when, what its envelope claims) is read here too.
 */
import { CONTINUATION_KEYS, sentByOwnRole } from './continuation.js';
import type { Attribution } from './dead-letter.js';
import type { Outcome } from './outcomes.js';
import {
  InvalidRequestError,
  parseRequest,
  type EnvelopeClaims,
  type RequestMetadata,
  type RevocationRequest,
} from './request.js';
import type { BatchDeps, BatchRecord } from './revoke-batch.js';

/** One token of a record: decided locally, or to be deactivated at Dfns. */
export type PlannedItem = { tokenId: unknown; outcome: Outcome; detail: string } | { tokenId: string; dfns: true };

/** One record, planned. */
export interface Plan {
  record: BatchRecord;
  /** The format the request came in (`unknown` when the body could not be read). */
  source: string;
  /** The request's metadata, also when the request was refused. */
  metadata: RequestMetadata;
  /** True when the body was refused whole (then `items` holds that one `invalid` entry). */
  refused: boolean;
  items: PlannedItem[];
  /** Who sent it and when, and what its envelope claims: on every audit line and dead letter of the record. */
  attribution: Attribution;
}

/**
 * Local decisions for one record: parse, then per token `invalid`, `protected`, `dry_run`, `already_inactive` (known
 * to this container for this request); the rest goes to Dfns.
 */
export function planRecord(
  record: BatchRecord,
  { settings, audit, finished }: Pick<BatchDeps, 'settings' | 'audit' | 'finished'>,
): Plan {
  if (!Number.isInteger(record.receiveCount) || record.receiveCount < 1) {
    audit.warning('ApproximateReceiveCount is missing or not a positive integer: treated as a first delivery', {
      messageId: record.messageId,
    });
  }
  let request: RevocationRequest;
  try {
    request = parseRequest(
      record.body,
      record.contentEncoding === undefined ? {} : { contentEncoding: record.contentEncoding },
    );
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    const metadata = error.metadata;
    if (!sentByOwnRole(record, settings.ownRoleId)) for (const key of CONTINUATION_KEYS) delete metadata[key];
    return {
      record,
      source: error.source ?? 'unknown',
      metadata,
      refused: true,
      items: [{ tokenId: null, outcome: 'invalid', detail: error.message }],
      attribution: attributionOf(record, metadata),
    };
  }
  if (!sentByOwnRole(record, settings.ownRoleId) && CONTINUATION_KEYS.some((key) => request[key] !== undefined)) {
    for (const key of CONTINUATION_KEYS) delete request[key];
    request.warnings.push("continuation fields ignored: the record was not sent by the function's own role");
  }
  if (request.warnings.length > 0) {
    audit.warning('request fields ignored or cut', { messageId: record.messageId, warnings: request.warnings });
  }
  const dryRun = settings.dryRun || request.dryRun;
  return {
    record,
    source: request.source,
    metadata: metadataOf(request),
    refused: false,
    attribution: attributionOf(record, request, request.claims),
    items: request.entries.map((entry): PlannedItem => {
      if (!entry.valid) return { tokenId: entry.raw, outcome: 'invalid', detail: entry.detail };
      if (settings.protectedTokenIds.has(entry.tokenId)) {
        return { tokenId: entry.tokenId, outcome: 'protected', detail: 'on the protected list (PROTECTED_TOKEN_IDS)' };
      }
      if (dryRun) {
        const why = settings.dryRun ? 'DRY_RUN is on' : 'the request asked for a dry run';
        return { tokenId: entry.tokenId, outcome: 'dry_run', detail: `${why}: not deactivated` };
      }
      const known = finished.get(request.continuationOf ?? record.messageId, entry.tokenId);
      if (known) {
        const detail = `switched off for this request at ${known.at} by delivery ${known.messageId}: no Dfns call`;
        return { tokenId: entry.tokenId, outcome: 'already_inactive', detail };
      }
      return { tokenId: entry.tokenId, dfns: true };
    }),
  };
}

/** The metadata a request carries on (into audit lines, dead letters and continuations). */
function metadataOf(request: RevocationRequest): RequestMetadata {
  const { source: _source, entries: _entries, warnings: _warnings, claims: _claims, dryRun, ...metadata } = request;
  return { ...metadata, ...(dryRun ? { dryRun: true } : {}) };
}

/**
 * Who sent a record and when (its `SenderId` and `SentTimestamp`; for a continuation from the function's own role,
 * the original's, which it carries), the chain it belongs to, and what its envelope claims.
 */
function attributionOf(
  record: BatchRecord,
  metadata: Pick<RequestMetadata, 'originalSenderId' | 'originalSentAt' | 'continuationOf'>,
  claims: EnvelopeClaims = {},
): Attribution {
  const senderId = metadata.originalSenderId ?? record.senderId;
  const sentAt =
    metadata.originalSentAt ?? (record.sentAt === undefined ? undefined : new Date(record.sentAt).toISOString());
  return {
    ...(senderId === undefined ? {} : { senderId }),
    ...(sentAt === undefined ? {} : { sentAt }),
    ...(metadata.continuationOf === undefined ? {} : { continuationOf: metadata.continuationOf }),
    ...claims,
  };
}
