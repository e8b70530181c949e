/**
 * The batch algorithm: SQS records → requests → token IDs → outcomes → one verdict per record.
 *
 * - Token IDs are checked in the CONTRACT section 5 order: `invalid`, then `protected`, then `dry_run`, then Dfns.
 * - A token asked for by several records of the batch is deactivated once; its outcome applies to each record.
 * - Deactivations run with bounded concurrency across all tokens of the batch, not record by record.
 * - The credential is fetched on the first token that needs it; when Dfns rejects it (401), it is fetched again once
 *   per invocation and the affected tokens are tried once more with it.
 * - A record with a `failed` token is retried whole (deactivation is idempotent). Otherwise its permanent failures
 *   are dead-lettered and it is acknowledged; if that send fails, it is retried.
 * - An unusable credential is a configuration fault: every record of the batch is retried and nothing is
 *   dead-lettered.
 *
 * Collaborators come in as arguments so tests drive this without module mocks.
 */
import pLimit from 'p-limit';
import type { Pat, ServiceAccountCredential } from '../lib/dfns/client.js';
import { DfnsError } from '../lib/dfns/errors.js';
import { CredentialError, type CredentialSource } from '../lib/credentials.js';
import type { AuditSink } from './audit.js';
import { buildDeadLetter, type DeadLetterFailure, type DeadLetterSender } from './dead-letter.js';
import { classify, DEAD_LETTER_OUTCOMES, type Outcome } from './outcomes.js';
import { InvalidRequestError, parseRequest, type RequestMetadata, type RevocationRequest } from './request.js';

/** One SQS record, as the batch needs it. */
export interface BatchRecord {
  messageId: string;
  body: string;
  /** `ApproximateReceiveCount`: 1 on the first delivery. */
  receiveCount: number;
}

/** Settings of the batch (from the configuration). */
export interface BatchSettings {
  /** Deactivations in flight at once. */
  maxConcurrency: number;
  /** Function-wide dry run. */
  dryRun: boolean;
  /** Token IDs never to deactivate. */
  protectedTokenIds: ReadonlySet<string>;
}

/** What the batch needs from the outside world. */
export interface BatchDeps {
  settings: BatchSettings;
  credentials: CredentialSource;
  /** One deactivation attempt (init → sign → action → PUT) with this credential. */
  deactivate(tokenId: string, credential: ServiceAccountCredential): Promise<Pat>;
  deadLetter: DeadLetterSender;
  audit: AuditSink;
  /** Monotonic clock in ms. @default performance.now */
  now?: () => number;
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

interface DfnsResult {
  outcome: Outcome;
  detail?: string;
  pat?: Pat;
  ms: number;
}

type PlannedItem =
  | { tokenId: unknown; outcome: Outcome; detail: string }
  | { tokenId: string; dfns: true };

interface Plan {
  record: BatchRecord;
  /** The request's metadata, also when the request was refused. */
  metadata: RequestMetadata;
  /** True when the body was refused whole (then `items` holds that one `invalid` entry). */
  refused: boolean;
  items: PlannedItem[];
}

/**
 * Processes one SQS batch.
 *
 * @returns which records to retry and every token outcome; never throws for a problem of one record or token
 */
export async function revokeBatch(records: BatchRecord[], deps: BatchDeps): Promise<BatchResult> {
  const plans = records.map((record) => plan(record, deps.settings, deps.audit));
  const { results: dfns, configFault, stillRejected } = await deactivateAll(plans, deps);
  if (configFault) {
    deps.audit.problem('credential unusable: every record of the batch is retried', { error: configFault.message });
  } else if (stillRejected > 0) {
    deps.audit.problem('credential still rejected by Dfns after fetching the secret again: check the service-account token, its permissions and the registered key', {
      tokens: stillRejected,
    });
  }

  const verdicts = await Promise.all(plans.map((p) => settle(p, dfns, configFault !== undefined, deps)));

  const results: TokenResult[] = [];
  for (const { plan: p, tokens } of verdicts) {
    for (const { pat, ...token } of tokens) {
      results.push(token);
      deps.audit.outcome({
        tokenId: token.tokenId,
        outcome: token.outcome,
        messageId: token.messageId,
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
  let request: RevocationRequest;
  try {
    request = parseRequest(record.body);
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    return {
      record,
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
    metadata: { ...pick(request, ['incidentId', 'reason', 'requestedBy']), ...(request.dryRun ? { dryRun: true } : {}) },
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

/** Deactivates every token of the batch that needs Dfns, once each, with bounded concurrency. */
async function deactivateAll(
  plans: Plan[],
  deps: BatchDeps,
): Promise<{ results: Map<string, DfnsResult>; configFault?: CredentialError; stillRejected: number }> {
  const now = deps.now ?? (() => performance.now());
  const unique = new Set<string>();
  for (const p of plans) for (const item of p.items) if ('dfns' in item) unique.add(item.tokenId);

  let configFault: CredentialError | undefined;
  let stillRejected = 0;
  // At most two GetSecretValue calls per invocation: the cached credential (fetched on first use) and one refetch
  // after a 401. Both are shared, failures included: a Secrets Manager outage costs one call, not one per token.
  let current: Promise<ServiceAccountCredential> | undefined;
  let refreshed: Promise<ServiceAccountCredential> | undefined;

  /** One attempt; the latency metric counts attempts that reached the PUT. */
  const attempt = async (
    tokenId: string,
    credential: ServiceAccountCredential,
  ): Promise<{ ok: true; pat: Pat } | { ok: false; error: unknown }> => {
    const started = now();
    try {
      const pat = await deps.deactivate(tokenId, credential);
      deps.audit.latency(now() - started);
      return { ok: true, pat };
    } catch (error) {
      if (error instanceof DfnsError && error.step === 'deactivate') deps.audit.latency(now() - started);
      return { ok: false, error };
    }
  };

  const deactivateOne = async (tokenId: string): Promise<DfnsResult> => {
    const started = now();
    const done = (outcome: Outcome, detail?: string, pat?: Pat): DfnsResult => ({
      outcome,
      ...(detail === undefined ? {} : { detail }),
      ...(pat === undefined ? {} : { pat }),
      ms: now() - started,
    });
    try {
      const credential = await (current ??= deps.credentials.get());
      let result = await attempt(tokenId, credential);
      if (!result.ok && classify(result.error).credentialRejected) {
        // One refetch per invocation, shared by every token that met the 401; each of them tries once more, and
        // tokens not started yet use the new credential directly.
        if (!refreshed) current = refreshed = deps.credentials.refresh();
        const fresh = await refreshed;
        if (fresh !== credential) result = await attempt(tokenId, fresh);
      }
      if (result.ok) {
        return result.pat.isActive === false
          ? done('deactivated', undefined, result.pat)
          : done('failed', 'Dfns answered 200 but the PAT still says isActive: true', result.pat);
      }
      const { outcome, detail, credentialRejected } = classify(result.error);
      if (credentialRejected) stillRejected += 1;
      return done(outcome, credentialRejected ? `${detail}; still rejected after fetching the secret again` : detail);
    } catch (error) {
      if (error instanceof CredentialError) configFault ??= error;
      return done('failed', classify(error).detail);
    }
  };

  const limit = pLimit(deps.settings.maxConcurrency);
  const results = new Map<string, DfnsResult>();
  await Promise.all([...unique].map((tokenId) => limit(async () => results.set(tokenId, await deactivateOne(tokenId)))));
  return configFault ? { results, configFault, stillRejected } : { results, stillRejected };
}

/**
 * The verdict of one record: retried when a token `failed` (or the credential was unusable); otherwise its
 * permanent failures are dead-lettered, and if that send fails it is retried.
 */
async function settle(
  p: Plan,
  dfns: Map<string, DfnsResult>,
  configFault: boolean,
  deps: BatchDeps,
): Promise<{ plan: Plan; tokens: Array<TokenResult & { pat?: Pat }>; retry: boolean }> {
  const tokens = p.items.map((item): TokenResult & { pat?: Pat } => {
    const base = { messageId: p.record.messageId, tokenId: item.tokenId };
    if (!('dfns' in item)) return { ...base, outcome: item.outcome, detail: item.detail };
    const result = dfns.get(item.tokenId) as DfnsResult;
    return { ...base, ...result };
  });
  if (configFault || tokens.some((t) => t.outcome === 'failed')) return { plan: p, tokens, retry: true };

  const failures: DeadLetterFailure[] = tokens
    .filter((t) => DEAD_LETTER_OUTCOMES.has(t.outcome))
    .map((t) => ({ tokenId: t.tokenId, outcome: t.outcome, detail: t.detail ?? t.outcome }));
  if (failures.length === 0) return { plan: p, tokens, retry: false };
  try {
    await deps.deadLetter(buildDeadLetter(p.record.messageId, p.metadata, failures, p.refused ? p.record.body : undefined));
    return { plan: p, tokens, retry: false };
  } catch (error) {
    deps.audit.problem('dead-letter send failed: the record is retried', {
      messageId: p.record.messageId,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return { plan: p, tokens, retry: true };
  }
}

/** The string fields `keys` of `source` that are set. */
function pick<K extends string>(source: Partial<Record<K, unknown>> | undefined, keys: K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = source?.[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}
