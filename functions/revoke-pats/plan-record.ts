/**
 * The local half of a batch: one SQS record → a plan. The body is parsed; continuation fields from anyone but the
 * function's own role are dropped; and each token is decided in the CONTRACT section 5 order (`invalid`,
 * `protected`, `dry_run`, `already_inactive` known to this container for this request), the rest left to Dfns. The
 * record's attribution (who sent it and when, what its envelope claims) is read here too.
 *
 * Planning needs the credential (CONTRACT section 5): the token it names is protected, and a leaked access token
 * stands for its token ID only when it names the credential's organisation. Without the credential, every token
 * that would need it ends `failed` and the record is retried, dry runs included.
 */
import type { ServiceAccountCredential } from '../lib/dfns/client.js';
import { CONTINUATION_KEYS, sentByOwnRole } from './continuation.js';
import type { Attribution } from './dead-letter.js';
import { OWN_TOKEN_DETAIL, type Outcome } from './outcomes.js';
import {
  InvalidRequestError,
  parseRequest,
  type EnvelopeClaims,
  type RequestMetadata,
  type RevocationRequest,
} from './request.js';
import type { BatchDeps, BatchRecord } from './revoke-batch.js';
import type { TokenEntry } from './token-entry.js';

/** One token of a record: decided locally, or to be deactivated at Dfns. */
export type PlannedItem = ({ tokenId: unknown; outcome: Outcome; detail: string } | { tokenId: string; dfns: true }) & {
  /** `jwt sha256:<hex>` when the token was named by a leaked access token. */
  receivedAs?: string;
};

/** The service-account credential as planning sees it: loaded, or why not (a message for the tokens' detail). */
export type CredentialState = { credential: ServiceAccountCredential } | { failed: string };

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
  loaded: CredentialState,
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
  const credential = 'credential' in loaded ? loaded.credential : undefined;
  const planned = new Map<string, PlannedItem>();
  const items: PlannedItem[] = [];
  for (const entry of request.entries) {
    const named = nameOf(entry, loaded, request.receivedAs);
    if ('decided' in named) {
      items.push(named.decided);
      continue;
    }
    const { tokenId, receivedAs } = named;
    // A leaked token and its own ID in one request are one token: one outcome, which keeps the fingerprint.
    const earlier = planned.get(tokenId);
    if (earlier) {
      if (earlier.receivedAs === undefined && receivedAs !== undefined) earlier.receivedAs = receivedAs;
      continue;
    }
    const item = (fields: { outcome: Outcome; detail: string } | { dfns: true }): PlannedItem => {
      const made: PlannedItem = { tokenId, ...fields, ...(receivedAs === undefined ? {} : { receivedAs }) };
      planned.set(tokenId, made);
      return made;
    };
    if (settings.protectedTokenIds.has(tokenId)) {
      items.push(item({ outcome: 'protected', detail: 'on the protected list (PROTECTED_TOKEN_IDS)' }));
    } else if (!credential) {
      // Whether it is the function's own token cannot be told: not even a dry run is decided without the credential.
      items.push(item({ outcome: 'failed', detail: (loaded as { failed: string }).failed }));
    } else if (tokenId === credential.ownTokenId) {
      items.push(item({ outcome: 'protected', detail: OWN_TOKEN_DETAIL }));
    } else if (dryRun) {
      const why = settings.dryRun ? 'DRY_RUN is on' : 'the request asked for a dry run';
      items.push(item({ outcome: 'dry_run', detail: `${why}: not deactivated` }));
    } else {
      const known = finished.get(request.continuationOf ?? record.messageId, tokenId);
      items.push(
        known
          ? item({
              outcome: 'already_inactive',
              detail: `switched off for this request at ${known.at} by delivery ${known.messageId}: no Dfns call`,
            })
          : item({ dfns: true }),
      );
    }
  }
  return {
    record,
    source: request.source,
    metadata: metadataOf(request),
    refused: false,
    attribution: attributionOf(record, request, request.claims),
    items,
  };
}

/**
 * The token ID an entry names: a valid ID, or the ID a leaked access token of the credential's organisation names
 * (CONTRACT section 4), or any leaked token's while the credential is not loaded (it ends `failed`, and is told
 * apart on the retry). Otherwise the entry is `invalid`.
 */
function nameOf(
  entry: TokenEntry,
  loaded: CredentialState,
  continued: Readonly<Record<string, string>> | undefined,
): { tokenId: string; receivedAs?: string } | { decided: PlannedItem } {
  if (entry.valid) {
    const receivedAs = continued?.[entry.tokenId];
    return { tokenId: entry.tokenId, ...(receivedAs === undefined ? {} : { receivedAs }) };
  }
  const invalid = (detail: string) => ({ decided: { tokenId: entry.raw, outcome: 'invalid' as const, detail } });
  const { leaked } = entry;
  if (!leaked) return invalid(entry.detail);
  // Whether it is ours cannot be told yet: it stands for the ID it names (a redrive of its dead letter names the ID),
  // and its token ends `failed` below, as any token does without the credential.
  if (!('credential' in loaded)) return { tokenId: leaked.tokenId, receivedAs: leaked.receivedAs };
  const { orgId } = loaded.credential;
  if (orgId === undefined) {
    return invalid(
      `${entry.detail}; the service-account token names no organisation to match it with: give the token ID`,
    );
  }
  if (leaked.orgId !== orgId) return invalid(`${entry.detail}; not of this organisation (${orgId}): not revoked`);
  return { tokenId: leaked.tokenId, receivedAs: leaked.receivedAs };
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
