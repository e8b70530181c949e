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
import { MIN_DEADLINE_MARGIN_MS, REQUESTS_PER_TOKEN, type SourceQueue } from '../lib/config.js';
import type { Pat } from '../lib/dfns/client.js';
import { formatError } from '../lib/format-error.js';
import { admit } from './admission.js';
import {
  deactivateTokens,
  systemClock,
  type DeactivationDeps,
  type DeactivationReport,
  type DeactivationResult,
} from './deactivate-tokens.js';
import { planContinuation, queueOf, type ContinuationSender, type Delivery } from './continuation.js';
import { buildDeadLetter, type DeadLetterFailure, type DeadLetterSender } from './dead-letter.js';
import type { FinishedTokens } from './finished-tokens.js';
import { DEAD_LETTER_OUTCOMES, type Outcome } from './outcomes.js';
import { planRecord, type Plan } from './plan-record.js';
import type { SourceProof } from './source-proof.js';

/** One SQS record, as the batch needs it. */
export interface BatchRecord extends Delivery {
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
  /** `SOURCE_QUEUE_URLS`: where continuations go (none without it). */
  sourceQueues: readonly SourceQueue[];
  /** `FUNCTION_ROLE_ID`: continuation attribution is trusted only from records this role sent. */
  ownRoleId?: string;
}

/** What the batch needs from the outside world (the Dfns side is {@link DeactivationDeps}). */
export interface BatchDeps extends DeactivationDeps {
  settings: BatchSettings;
  deadLetter: DeadLetterSender;
  continuation: ContinuationSender;
  /** The tokens this container switched off, per request (no budget spent twice). */
  finished: FinishedTokens;
  /** Proves each record came from its queue (with `SOURCE_QUEUE_URLS`); without it every record is taken. */
  sourceProof?: SourceProof;
}

/** The Dfns half's report when no token could be sent (the credential did not load). */
const NOTHING_SENT: DeactivationReport = {
  results: new Map(),
  stillRejected: 0,
  started: false,
  throttled: false,
  budgetRefused: false,
};

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
  /** Not finished for lack of budget or time (see {@link DeactivationResult.late}). */
  late?: true;
  /** `failed` and at the end of its continuation chain: dead-lettered now, as on a last receive. */
  final?: true;
  /** `jwt sha256:<hex>` when the token was named by a leaked access token (CONTRACT section 4). */
  receivedAs?: string;
}

/** The batch's verdict. */
export interface BatchResult {
  /** `messageId`s of the records SQS must deliver again, in record order. */
  retry: string[];
  /** Every token outcome of every record, in record order. */
  results: TokenResult[];
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
  // A function-wide dry run stops revocation silently: say so on every invocation (the stack pages on it where
  // the environment's settings say the dry run is off).
  if (deps.settings.dryRun) deps.audit.dryRunActive();
  const clock = deps.clock ?? systemClock;
  const stopAt = clock.now() + invocation.remainingMs - margin;
  // Before any Dfns call: where the records come from, and the credential planning needs (CONTRACT sections 2, 5).
  const { admitted, notAdmitted, loaded } = await admit(records, deps, clock, stopAt);
  const plans = admitted.map((record) => planRecord(record, deps, loaded.state));
  const unique = new Set<string>();
  for (const p of plans) for (const item of p.items) if ('dfns' in item) unique.add(item.tokenId);
  const report =
    'credential' in loaded.state
      ? await deactivateTokens([...unique], deps, stopAt, loaded.state.credential)
      : NOTHING_SENT;
  const { results: dfns, stillRejected } = report;
  const configFault = loaded.configFault ?? report.configFault;
  const waitedMs = unique.size > 0 ? deps.budget.takeWaitedMs() : 0;
  if (unique.size > 0) deps.audit.budgetWait(waitedMs);
  // An invocation that started nothing and neither waited for the budget nor was refused by it (or by a 429) only
  // ran out of time: its records are retried, not continued.
  const progressed = report.started || report.throttled || report.budgetRefused || waitedMs > 0;
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
  const verdicts = await Promise.all(
    plans.map((p) => settle(p, dfns, { configFault: configFault !== undefined, progressed }, deps, sendDeadline)),
  );

  const results: TokenResult[] = [];
  const now = new Date().toISOString();
  for (const { plan: p, tokens } of verdicts) {
    const key = p.metadata.continuationOf ?? p.record.messageId;
    for (const { pat, late: _late, final: _final, ...token } of tokens) {
      results.push(token);
      if (pat && (token.outcome === 'deactivated' || token.outcome === 'already_inactive')) {
        deps.finished.remember(key, token.tokenId as string, { at: now, messageId: p.record.messageId });
      }
      deps.audit.outcome({
        tokenId: token.tokenId,
        ...(token.receivedAs === undefined ? {} : { receivedAs: token.receivedAs }),
        outcome: token.outcome,
        messageId: token.messageId,
        source: p.source,
        ...pick(p.metadata, ['incidentId', 'requestedBy', 'reason']),
        ...p.attribution,
        ...pick(pat, ['linkedUserId', 'orgId']),
        ...(token.detail === undefined ? {} : { detail: token.detail }),
        ...(token.ms === undefined ? {} : { latencyMs: Math.round(token.ms) }),
      });
    }
  }
  deps.audit.flush();
  const retried = new Set([...notAdmitted, ...verdicts.filter((v) => v.retry).map((v) => v.plan.record.messageId)]);
  return { retry: [...new Set(records.map((r) => r.messageId).filter((id) => retried.has(id)))], results };
}

/**
 * The verdict of one record: retried when a token `failed` (or the credential was unusable), unless this is its
 * last receive; otherwise its failures are dead-lettered, and if that send fails it is retried.
 */
async function settle(
  p: Plan,
  dfns: Map<string, DeactivationResult>,
  invocation: { configFault: boolean; progressed: boolean },
  deps: BatchDeps,
  sendDeadline: AbortSignal,
): Promise<{ plan: Plan; tokens: Array<TokenResult & { pat?: Pat }>; retry: boolean }> {
  let tokens = p.items.map((item): TokenResult & { pat?: Pat } => {
    const base = {
      messageId: p.record.messageId,
      tokenId: item.tokenId,
      ...(item.receivedAs === undefined ? {} : { receivedAs: item.receivedAs }),
    };
    if (!('dfns' in item)) return { ...base, outcome: item.outcome, detail: item.detail };
    const result = dfns.get(item.tokenId) as DeactivationResult;
    return { ...base, ...result };
  });
  // A configuration fault never dead-letters a token (CONTRACT section 3), not even on the last receive: the
  // redrive policy moves such records with their original bodies, and the ERROR line and alarm say why.
  if (invocation.configFault) return { plan: p, tokens, retry: true };
  const { maxReceiveCount } = deps.settings;
  const onLastReceive = maxReceiveCount !== undefined && p.record.receiveCount >= maxReceiveCount;
  if (invocation.progressed && tokens.some((t) => t.late)) {
    const continued = await continueLate(p, tokens, deps, sendDeadline);
    // Not continued: retried, or on its last receive dead-lettered below with its reasons, as any failure.
    if (continued === 'retry' && !onLastReceive) return { plan: p, tokens, retry: true };
    if (continued !== 'retry') tokens = continued;
  }
  const lastReceive = onLastReceive || tokens.some((t) => t.final);
  if (tokens.some((t) => t.outcome === 'failed') && !lastReceive) return { plan: p, tokens, retry: true };

  const failures: DeadLetterFailure[] = tokens
    .filter((t) => DEAD_LETTER_OUTCOMES.has(t.outcome) || t.outcome === 'failed')
    .map((t) => ({
      tokenId: t.tokenId,
      ...(t.receivedAs === undefined ? {} : { receivedAs: t.receivedAs }),
      outcome: t.outcome,
      detail:
        t.outcome === 'failed' && !t.final
          ? `${t.detail ?? 'failed'} (last receive: ${p.record.receiveCount} of ${maxReceiveCount})`
          : (t.detail ?? t.outcome),
    }));
  if (failures.length === 0) return { plan: p, tokens, retry: false };
  try {
    await deps.deadLetter(
      buildDeadLetter(p.record.messageId, p.metadata, failures, p.refused ? p.record.body : undefined, p.attribution),
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

/**
 * Hands a record's unfinished tokens (late ones, and those that failed transiently beside them) to a continuation on
 * the record's own queue (CONTRACT section 8). A chain past its bounds ends instead: those tokens stay `failed`, on
 * their last receive, so they are dead-lettered with the reason.
 *
 * @returns the record's tokens with the continued ones marked, or `'retry'` when there is no continuation to send
 *   (no `SOURCE_QUEUE_URLS` entry for the record's queue) or its send failed
 */
async function continueLate(
  p: Plan,
  tokens: Array<TokenResult & { pat?: Pat }>,
  deps: BatchDeps,
  sendDeadline: AbortSignal,
): Promise<Array<TokenResult & { pat?: Pat }> | 'retry'> {
  const queue = queueOf(p.record, deps.settings.sourceQueues);
  if (!queue) return 'retry';
  const unfinished = tokens.filter((t) => t.outcome === 'failed');
  const tokenIds = unfinished.map((t) => t.tokenId as string);
  const receivedAs = Object.fromEntries(
    unfinished.flatMap((t) => (t.receivedAs === undefined ? [] : [[t.tokenId as string, t.receivedAs]])),
  );
  const clock = deps.clock ?? systemClock;
  const delayMs = deps.budget.nextRoom(REQUESTS_PER_TOKEN) - clock.now();
  const planned = planContinuation(
    tokenIds,
    receivedAs,
    p.metadata,
    p.record,
    deps.settings.ownRoleId,
    delayMs,
    Date.now(),
  );
  if (!planned.send) {
    return tokens.map((t) =>
      t.outcome === 'failed' ? { ...t, detail: `${t.detail}; ${planned.why}`, final: true } : t,
    );
  }
  try {
    const id = await deps.continuation(queue.url, planned.body, planned.delaySeconds, sendDeadline);
    deps.audit.continuation();
    const detail = `continued in message ${id}, delayed ${planned.delaySeconds} s`;
    return tokens.map((t) =>
      t.outcome === 'failed' ? { ...t, outcome: 'continued', detail: `${detail}: ${t.detail}` } : t,
    );
  } catch (error) {
    deps.audit.problem('continuation send failed: the record is retried', {
      messageId: p.record.messageId,
      error: formatError(error),
    });
    return 'retry';
  }
}
