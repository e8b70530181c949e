/**
 * `pat-revoker enqueue`: validates token IDs locally, then sends requests of at most 100 IDs, ten per
 * SendMessageBatch, and accounts for every one: queued (with its message ID), not queued (SQS refused it, or it was
 * never sent), may have been queued (the answer was lost), or not confirmed (SQS' answer named it neither way).
 */
import { SendMessageBatchCommand, type SendMessageBatchCommandOutput } from '@aws-sdk/client-sqs';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { formatError } from '../../functions/lib/format-error.js';
import { listed, notShownMarker } from '../../functions/lib/output-cap.js';
import { maskSecrets } from '../../functions/lib/secret-values.js';
import { MAX_METADATA_CHARS, MAX_TOKEN_IDS } from '../../functions/revoke-pats/request.js';
import { entryOf, plainTextValues } from '../../functions/revoke-pats/token-entry.js';
import { UsageError } from '../command-line.js';
import { sendFailure } from './aws.js';
import { abortReason } from './context.js';
import { type CliIo, printJson, shownPath, table, type Writers } from './io.js';

/** SendMessageBatch takes at most 10 entries (SQS quota). */
const SQS_BATCH = 10;

/** What enqueue is asked to send. */
export interface EnqueueInput {
  /** Token IDs given as arguments. */
  args: string[];
  /** Files of token IDs (`-`: standard input), every one read. */
  files: string[];
  incident?: string;
  reason?: string;
  requestedBy?: string;
  /** The request-level dry run: the function validates and logs, deactivates nothing. */
  requestDryRun: boolean;
}

/** What became of one request (one SQS message of at most 100 token IDs). */
export type RequestStatus = 'queued' | 'not_queued' | 'answer_lost' | 'not_confirmed';

/** One request and its fate. */
export interface RequestResult {
  tokenIds: string[];
  status: RequestStatus;
  messageId?: string;
  /** Why it is not queued or not known to be: SQS' code and message, or the error. */
  reason?: string;
}

/** The words each status is shown with. */
export const STATUS_WORDS: Record<RequestStatus, string> = {
  queued: 'queued',
  not_queued: 'not queued',
  answer_lost: 'may have been queued (answer lost)',
  not_confirmed: 'not confirmed (missing from SQS answer)',
};

/**
 * Reads and validates the token IDs: every invalid one is listed with its rule, and then nothing is sent.
 *
 * @returns the request bodies (JSON), in order, and the token IDs of each
 * @throws UsageError when there is no ID, a file cannot be read, or any ID is invalid (exit 2)
 */
export function planRequests(
  input: EnqueueInput,
  io: CliIo,
  write: Writers,
): Array<{ body: string; tokenIds: string[] }> {
  const raw = [...input.args];
  for (const file of input.files) {
    let text: string;
    try {
      text = file === '-' ? io.readStdin() : readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --file ${file}: ${(error as { code?: string }).code ?? formatError(error)}`);
    }
    raw.push(...plainTextValues(text));
  }
  if (raw.length === 0) throw new UsageError('no token ID: give them as arguments or with --file');
  const invalid: string[] = [];
  const ids = new Set<string>();
  for (const value of raw) {
    // A secret pasted by mistake is shown only as its fingerprint, as the function shows it.
    const entry = entryOf(value);
    if (entry.valid) ids.add(entry.tokenId);
    else invalid.push(`  ${JSON.stringify(entry.raw)}: ${entry.detail}`);
  }
  if (invalid.length > 0) {
    const { shown, notShown } = listed(invalid);
    write.message(
      `${[
        `refused, nothing sent: ${invalid.length} invalid token ID(s)`,
        ...shown,
        ...(notShown > 0 ? [`  ${notShownMarker(notShown)}`] : []),
      ].join('\n')}\n`,
    );
    throw new UsageError('invalid token IDs (listed above)');
  }
  // A secret pasted into the metadata (a leaked token quoted in --reason) is masked as the function masks it: sent
  // raw, it would sit in the queue and the DLQ and be echoed by the --dry-run preview; only its fingerprint goes.
  const metadata = {
    incident: maskedMetadata('--incident', input.incident ?? '', write),
    reason: maskedMetadata('--reason', input.reason ?? '', write),
    requestedBy: maskedMetadata('--requested-by', input.requestedBy || `cli:${operator()}`, write),
  };
  const all = [...ids];
  const requests: Array<{ body: string; tokenIds: string[] }> = [];
  for (let i = 0; i < all.length; i += MAX_TOKEN_IDS) {
    const tokenIds = all.slice(i, i + MAX_TOKEN_IDS);
    // Metadata is cut as the function cuts it, so ten requests always fit one SendMessageBatch.
    const body = JSON.stringify({
      tokenIds,
      ...(input.incident ? { incidentId: metadata.incident } : {}),
      ...(input.reason ? { reason: metadata.reason } : {}),
      requestedBy: metadata.requestedBy,
      ...(input.requestDryRun ? { dryRun: true } : {}),
    });
    requests.push({ body, tokenIds });
  }
  return requests;
}

/** `value` with any secret-shaped run shown only as its fingerprint, cut as the function cuts it; says so if masked. */
function maskedMetadata(option: string, value: string, write: Writers): string {
  const masked = maskSecrets(value);
  if (masked !== value) write.message(`${option}: a secret-shaped value is sent only as its fingerprint\n`);
  return masked.slice(0, MAX_METADATA_CHARS);
}

/** The OS user, for the default requestedBy. */
function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return 'operator';
  }
}

/**
 * Sends `requests` in batches of ten until done, a send fails, or `signal` aborts (the overall timeout, Ctrl-C). A
 * failed or aborted send stops the sending: its requests are `not_queued` or `answer_lost` as {@link sendFailure}
 * says, and every later one is `not_queued` (never sent).
 *
 * @param onProgress called with the token IDs accounted for so far
 */
export async function sendRequests(
  send: (command: SendMessageBatchCommand, signal: AbortSignal) => Promise<SendMessageBatchCommandOutput>,
  queueUrl: string,
  requests: ReadonlyArray<{ body: string; tokenIds: string[] }>,
  signal: AbortSignal,
  onProgress: (tokens: number) => void,
): Promise<RequestResult[]> {
  const results: RequestResult[] = [];
  let stopped: string | undefined;
  let accounted = 0;
  for (let i = 0; i < requests.length; i += SQS_BATCH) {
    const chunk = requests.slice(i, i + SQS_BATCH);
    if (stopped === undefined && signal.aborted) stopped = `not sent: ${abortReason(signal)}`;
    if (stopped !== undefined) {
      for (const { tokenIds } of chunk) results.push({ tokenIds, status: 'not_queued', reason: stopped });
      continue;
    }
    try {
      const answer = await send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((request, j) => ({ Id: String(j), MessageBody: request.body })),
        }),
        signal,
      );
      chunk.forEach(({ tokenIds }, j) => {
        const ok = answer.Successful?.find((entry) => entry.Id === String(j));
        const bad = answer.Failed?.find((entry) => entry.Id === String(j));
        if (ok) results.push({ tokenIds, status: 'queued', ...(ok.MessageId ? { messageId: ok.MessageId } : {}) });
        else if (bad) {
          results.push({
            tokenIds,
            status: 'not_queued',
            reason: `${bad.Code ?? 'Failed'}: ${bad.Message ?? ''}`.trim(),
          });
        } else results.push({ tokenIds, status: 'not_confirmed', reason: 'in neither Successful nor Failed' });
      });
    } catch (error) {
      const why = signal.aborted ? `${abortReason(signal)} while waiting for SQS` : formatError(error);
      const status = sendFailure(error) === 'refused' && !signal.aborted ? 'not_queued' : 'answer_lost';
      for (const { tokenIds } of chunk) results.push({ tokenIds, status, reason: why });
      stopped = `not sent: stopped after a failed SendMessageBatch (${signal.aborted ? abortReason(signal) : 'see above'})`;
    }
    accounted += chunk.reduce((n, request) => n + request.tokenIds.length, 0);
    onProgress(accounted);
  }
  return results;
}

/** Token IDs of the results with one of `statuses`. */
function idsWith(results: readonly RequestResult[], ...statuses: RequestStatus[]): string[] {
  return results.filter((r) => statuses.includes(r.status)).flatMap((r) => r.tokenIds);
}

/**
 * Prints the results (stdout: one line per request, or the JSON document) and the summary (stderr), and writes the
 * IDs to send again to `resendFile` (not queued: safe to resend) and `<resendFile>.uncertain` (answer lost or not
 * confirmed: resending may queue them twice, which costs Dfns budget and ends `already_inactive`). A file that
 * cannot be written is said on stderr, with its IDs listed there instead; the report is printed all the same.
 *
 * @param again the options that send to the same queue with the same metadata, for the "send again" command
 * @param extra more of the JSON document (the target)
 * @returns whether every request was queued
 */
export function reportEnqueue(
  results: readonly RequestResult[],
  write: Writers,
  output: 'table' | 'json',
  resendFile: string,
  again: string,
  extra: { requestDryRun: boolean } & Record<string, unknown>,
): boolean {
  const notQueued = idsWith(results, 'not_queued');
  const uncertain = idsWith(results, 'answer_lost', 'not_confirmed');
  const files: Record<string, string> = {};
  // A file that cannot be written (no such directory, a read-only working directory) threw before anything was
  // printed: the operator lost the whole report of what was queued. Now the failure is said, with the IDs listed.
  const unwritten: string[] = [];
  const save = (key: 'notQueued' | 'uncertain', path: string, tokenIds: string[]) => {
    if (tokenIds.length === 0) return;
    try {
      writeFileSync(path, `${tokenIds.join('\n')}\n`);
      files[key] = path;
    } catch (error) {
      unwritten.push(
        `could not write ${shownPath(path)} (${(error as { code?: string }).code ?? formatError(error)}); ` +
          `the ${tokenIds.length} ${key === 'notQueued' ? 'not queued' : 'uncertain'} token ID(s):\n${tokenIds.join('\n')}\n`,
      );
    }
  };
  save('notQueued', resendFile, notQueued);
  save('uncertain', `${resendFile}.uncertain`, uncertain);
  const count = (status: RequestStatus) => idsWith(results, status).length;
  const summary = {
    queued: count('queued'),
    notQueued: count('not_queued'),
    answerLost: count('answer_lost'),
    notConfirmed: count('not_confirmed'),
  };
  if (output === 'json') {
    printJson(write, {
      ...extra,
      requests: results.map((r) => ({ ...r, count: r.tokenIds.length })),
      summary,
      files,
    });
  } else {
    write.result(
      table(
        ['message ID', 'token IDs', 'status'],
        results.map((r) => [r.messageId ?? '-', r.tokenIds.length, paintStatus(write, r.status)]),
      ),
    );
  }
  for (const r of results) {
    if (r.status !== 'queued')
      write.message(`${STATUS_WORDS[r.status]}: ${r.tokenIds.length} token ID(s): ${r.reason}\n`);
  }
  write.message(
    `${summary.queued} token ID(s) queued, ${summary.notQueued} not queued, ${summary.answerLost} may have been ` +
      `queued (answer lost), ${summary.notConfirmed} not confirmed\n`,
  );
  if (files.notQueued) {
    const path = shownPath(files.notQueued);
    write.messageChecked(`not queued, safe to send again: ${path}\n  enqueue --file ${path} ${again}\n`);
  }
  if (files.uncertain) {
    write.messageChecked(
      `may already be queued: ${shownPath(files.uncertain)}; sending them again queues them twice at worst ` +
        '(deactivation is idempotent; the second ends already_inactive and costs Dfns budget)\n',
    );
  }
  for (const text of unwritten) write.messageChecked(text);
  if (extra.requestDryRun) {
    write.message(
      'the requests are dry runs (--request-dry-run): the function validates and logs, deactivates nothing\n',
    );
  }
  return summary.queued === results.reduce((n, r) => n + r.tokenIds.length, 0);
}

/** A status in its colour. */
function paintStatus(write: Writers, status: RequestStatus): string {
  const colour = status === 'queued' ? 'green' : status === 'not_queued' ? 'red' : 'yellow';
  return write.paint(STATUS_WORDS[status], colour);
}
