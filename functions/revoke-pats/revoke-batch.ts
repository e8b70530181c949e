/**
 * The batch algorithm: SQS records → requests → token IDs → outcomes → one verdict per record.
 *
 * - Token IDs are checked in the CONTRACT section 5 order: `invalid`, then `protected`, then `dry_run`, then Dfns.
 * - A token asked for by several records of the batch is deactivated once; its outcome applies to each record.
 * - Deactivations run with bounded concurrency across all tokens of the batch, not record by record.
 * - The Dfns work (retries, credential refetch, deadline guard) is deactivate-tokens.ts.
 * - A record with a `failed` token is retried whole (deactivation is idempotent). Otherwise its permanent failures
 *   are dead-lettered and it is acknowledged; if that send fails, it is retried.
 * - An unusable credential is a configuration fault: every record of the batch is retried and nothing is
 *   dead-lettered.
 * - On a record's last receive (`MAX_RECEIVE_COUNT`), a record that would be retried is dead-lettered instead, with
 *   its last reasons, so the DLQ message says why rather than holding only the original body.
 *
 * Collaborators come in as arguments so tests drive this without module mocks.
 */
import { MIN_DEADLINE_MARGIN_MS } from '../lib/config.js';
import type { Pat } from '../lib/dfns/client.js';
import { formatError } from '../lib/format-error.js';
import type { AuditSink } from './audit.js';
import { deactivateTokens, systemClock, type DeactivationDeps, type DeactivationResult } from './deactivate-tokens.js';
import { buildDeadLetter, type DeadLetterFailure, type DeadLetterSender } from './dead-letter.js';
import { DEAD_LETTER_OUTCOMES, type Outcome } from './outcomes.js';
import { InvalidRequestError, parseRequest, type RequestMetadata, type RevocationRequest } from './request.js';

/** One SQS record, as the batch needs it. */
export interface BatchRecord {
  messageId: string;
  body: string;
  /** `ApproximateReceiveCount`: 1 on the first delivery. */
  receiveCount: number;
  /** The `contentEncoding` message attribute (`base64`), if any. */
  contentEncoding?: string;
}

/** Settings of the batch (from the configuration). */
export interface BatchSettings {
  /** Function-wide dry run. */
  dryRun: boolean;
  /** Token IDs never to deactivate. */
  protectedTokenIds: ReadonlySet<string>;
  /** Stop starting work this long before the invocation deadline, ms. */
  deadlineMarginMs: number;
  /** The queue's maxReceiveCount: on that receive, a record is dead-lettered rather than retried. */
  maxReceiveCount?: number;
}

/** What the batch needs from the outside world (the Dfns side is {@link DeactivationDeps}). */
export interface BatchDeps extends DeactivationDeps {
  settings: BatchSettings;
  deadLetter: DeadLetterSender;
}

/** Time kept back to log, publish metrics and answer Lambda after the last dead-letter send, ms. */
export const RESPONSE_RESERVE_MS = 500;

/** The invocation being served. */
export interface Invocation {
  /** Time left before Lambda stops the invocation, ms (`context.getRemainingTimeInMillis()`). */
  remainingMs: number;
}

/** The outcome of one token ID of one record. */
export interface TokenResult {
  messageId: string;
  tokenId: unknown;
  outcome: Outcome;
  detail?: string;
  /** Wall time of the Dfns work for this token (shared by records asking for the same token), ms. */
  ms?: number;
}

/** The batch's verdict. */
export interface BatchResult {
  /** `messageId`s of the records SQS must deliver again, in record order. */
  retry: string[];
  /** Every token outcome of every record, in record order. */
  results: TokenResult[];
}

type PlannedItem = { tokenId: unknown; outcome: Outcome; detail: string } | { tokenId: string; dfns: true };

interface Plan {
  record: BatchRecord;
  /** The format the request came in (`unknown` when the body could not be read). */
  source: string;
  /** The request's metadata, also when the request was refused. */
  metadata: RequestMetadata;
  /** True when the body was refused whole (then `items` holds that one `invalid` entry). */
  refused: boolean;
  items: PlannedItem[];
}

/** Containers (their deps) that already said their invocations are too short for the margin: once each. */
const warnedOfShortInvocation = new WeakSet<object>();

/**
 * The margin an invocation keeps before its deadline, ms: the configured one, shrunk in a short invocation so that it
 * never takes the whole (CONTRACT section 2): at most a quarter of the time the invocation started with, and never
 * under {@link MIN_DEADLINE_MARGIN_MS}.
 *
 * @param configuredMs `DEADLINE_MARGIN_MS`
 * @param remainingMs the time the invocation started with (`context.getRemainingTimeInMillis()`)
 */
export function deadlineMargin(configuredMs: number, remainingMs: number): number {
  return Math.min(configuredMs, Math.max(MIN_DEADLINE_MARGIN_MS, Math.floor(remainingMs / 4)));
}

/**
 * Processes one SQS batch.
 *
 * @returns which records to retry and every token outcome; never throws for a problem of one record or token
 */
export async function revokeBatch(
  records: BatchRecord[],
  deps: BatchDeps,
  invocation: Invocation,
): Promise<BatchResult> {
  // Lambda's deadline by the wall clock the abort timers run on (the injectable clock may be virtual in tests).
  const startedAt = performance.now();
  const margin = deadlineMargin(deps.settings.deadlineMarginMs, invocation.remainingMs);
  if (margin < deps.settings.deadlineMarginMs && !warnedOfShortInvocation.has(deps)) {
    warnedOfShortInvocation.add(deps);
    deps.audit.warning(
      invocation.remainingMs <= MIN_DEADLINE_MARGIN_MS
        ? 'the invocation has no time beyond the smallest deadline margin: nothing can start (raise the function timeout)'
        : 'the invocation is too short for DEADLINE_MARGIN_MS: a smaller margin applies (raise the function timeout)',
      {
        deadlineMarginMs: deps.settings.deadlineMarginMs,
        appliedMarginMs: margin,
        remainingMs: invocation.remainingMs,
      },
    );
  }
  const stopAt = (deps.clock ?? systemClock).now() + invocation.remainingMs - margin;
  const plans = records.map((record) => plan(record, deps.settings, deps.audit));
  const unique = new Set<string>();
  for (const p of plans) for (const item of p.items) if ('dfns' in item) unique.add(item.tokenId);
  const { results: dfns, configFault, stillRejected } = await deactivateTokens([...unique], deps, stopAt);
  if (configFault) {
    deps.audit.problem('credential unusable: every record of the batch is retried', {
      error: formatError(configFault),
    });
  } else if (stillRejected > 0) {
    deps.audit.problem(
      'credential still rejected by Dfns after fetching the secret again: check the service-account token, its permissions and the registered key',
      {
        tokens: stillRejected,
      },
    );
  }

  // Dead-letter sends get the margin that the Dfns work left, minus a reserve to answer Lambda: a send still
  // pending then is aborted and its record retried, rather than the invocation being killed. Counted from the
  // start of the invocation: the Dfns work may have used all but the margin.
  const untilDeadline = invocation.remainingMs - (performance.now() - startedAt);
  const sendDeadline = AbortSignal.timeout(Math.max(1, Math.floor(untilDeadline - RESPONSE_RESERVE_MS)));
  const verdicts = await Promise.all(plans.map((p) => settle(p, dfns, configFault !== undefined, deps, sendDeadline)));

  const results: TokenResult[] = [];
  for (const { plan: p, tokens } of verdicts) {
    for (const { pat, ...token } of tokens) {
      results.push(token);
      deps.audit.outcome({
        tokenId: token.tokenId,
        outcome: token.outcome,
        messageId: token.messageId,
        source: p.source,
        ...pick(p.metadata, ['incidentId', 'requestedBy', 'reason']),
        ...pick(pat, ['linkedUserId', 'orgId']),
        ...(token.detail === undefined ? {} : { detail: token.detail }),
        ...(token.ms === undefined ? {} : { latencyMs: Math.round(token.ms) }),
      });
    }
  }
  deps.audit.flush();
  return { retry: verdicts.filter((v) => v.retry).map((v) => v.plan.record.messageId), results };
}

/** Local decisions for one record: parse, then per token `invalid`, `protected`, `dry_run`; the rest goes to Dfns. */
function plan(record: BatchRecord, settings: BatchSettings, audit: AuditSink): Plan {
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
    return {
      record,
      source: error.source ?? 'unknown',
      metadata: error.metadata,
      refused: true,
      items: [{ tokenId: null, outcome: 'invalid', detail: error.message }],
    };
  }
  if (request.warnings.length > 0) {
    audit.warning('request fields ignored or cut', { messageId: record.messageId, warnings: request.warnings });
  }
  const dryRun = settings.dryRun || request.dryRun;
  return {
    record,
    source: request.source,
    metadata: {
      ...pick(request, ['incidentId', 'reason', 'requestedBy']),
      ...(request.dryRun ? { dryRun: true } : {}),
    },
    refused: false,
    items: request.entries.map((entry): PlannedItem => {
      if (!entry.valid) return { tokenId: entry.raw, outcome: 'invalid', detail: entry.detail };
      if (settings.protectedTokenIds.has(entry.tokenId)) {
        return { tokenId: entry.tokenId, outcome: 'protected', detail: 'on the protected list (PROTECTED_TOKEN_IDS)' };
      }
      if (dryRun) {
        const why = settings.dryRun ? 'DRY_RUN is on' : 'the request asked for a dry run';
        return { tokenId: entry.tokenId, outcome: 'dry_run', detail: `${why}: not deactivated` };
      }
      return { tokenId: entry.tokenId, dfns: true };
    }),
  };
}

/**
 * The verdict of one record: retried when a token `failed` (or the credential was unusable), unless this is its
 * last receive; otherwise its failures are dead-lettered, and if that send fails it is retried.
 */
async function settle(
  p: Plan,
  dfns: Map<string, DeactivationResult>,
  configFault: boolean,
  deps: BatchDeps,
  sendDeadline: AbortSignal,
): Promise<{ plan: Plan; tokens: Array<TokenResult & { pat?: Pat }>; retry: boolean }> {
  const tokens = p.items.map((item): TokenResult & { pat?: Pat } => {
    const base = { messageId: p.record.messageId, tokenId: item.tokenId };
    if (!('dfns' in item)) return { ...base, outcome: item.outcome, detail: item.detail };
    const result = dfns.get(item.tokenId) as DeactivationResult;
    return { ...base, ...result };
  });
  // A configuration fault never dead-letters a token (CONTRACT section 3), not even on the last receive: the
  // redrive policy moves such records with their original bodies, and the ERROR line and alarm say why.
  if (configFault) return { plan: p, tokens, retry: true };
  const { maxReceiveCount } = deps.settings;
  const lastReceive = maxReceiveCount !== undefined && p.record.receiveCount >= maxReceiveCount;
  if (tokens.some((t) => t.outcome === 'failed') && !lastReceive) return { plan: p, tokens, retry: true };

  const failures: DeadLetterFailure[] = tokens
    .filter((t) => DEAD_LETTER_OUTCOMES.has(t.outcome) || t.outcome === 'failed')
    .map((t) => ({
      tokenId: t.tokenId,
      outcome: t.outcome,
      detail:
        t.outcome === 'failed'
          ? `${t.detail ?? 'failed'} (last receive: ${p.record.receiveCount} of ${maxReceiveCount})`
          : (t.detail ?? t.outcome),
    }));
  if (failures.length === 0) return { plan: p, tokens, retry: false };
  try {
    await deps.deadLetter(
      buildDeadLetter(p.record.messageId, p.metadata, failures, p.refused ? p.record.body : undefined),
      sendDeadline,
    );
    return { plan: p, tokens, retry: false };
  } catch (error) {
    deps.audit.problem('dead-letter send failed: the record is retried', {
      messageId: p.record.messageId,
      error: formatError(error),
    });
    return { plan: p, tokens, retry: true };
  }
}

/** The string fields `keys` of `source` that are set. */
function pick<K extends string>(
  source: Partial<Record<K, unknown>> | undefined,
  keys: K[],
): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = source?.[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}
