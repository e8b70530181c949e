/**
 * The `npm start` demo, as a function so a test runs exactly the same path (CI never runs `npm start`).
 *
 * No AWS account, no internet: the Dfns sandbox with seeded PATs, a fresh Ed25519 service-account key, the
 * credential served by a loopback Secrets Manager, the dead-letter queue on a loopback SQS. The real handler (Middy
 * wiring, configuration from the environment, Secrets Manager and SQS clients) is invoked with an SQS event holding
 * playbook-style requests, one of them naming a token Dfns does not know.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { loadConfig } from '../../functions/lib/config.js';
import { createContainer } from '../../functions/revoke-pats/container.js';
import { createHandler } from '../../functions/revoke-pats/wiring.js';
import { startSecretsManager } from '../aws/secrets-manager.js';
import { loopbackEnv } from '../aws/loopback-env.js';
import { startSqs, type ReceivedMessage } from '../aws/sqs.js';
import { newTokenId } from '../sandbox/ids.js';
import { startRehearsal } from '../sandbox/rehearsal.js';
import { lambdaContext, sqsEvent } from '../aws/lambda-events.js';

/** One row of the result table: a token ID of a record and what happened to it. */
export interface DemoRow {
  messageId: string;
  tokenId: string;
  outcome: string;
  /** Time spent on Dfns for this token, ms (absent when no call was needed). */
  ms?: number;
  /** The PAT's `isActive` at the sandbox afterwards; `unknown` for a token it does not know. */
  isActiveAfter: boolean | 'unknown';
}

/** What the demo did. */
export interface DemoResult {
  rows: DemoRow[];
  response: SQSBatchResponse;
  deadLetters: ReceivedMessage[];
  /** Every JSON line the handler printed (audit lines, metrics). */
  logLines: Array<Record<string, unknown>>;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the report goes. @default process.stdout */
  write?: (text: string) => void;
  /** Latency the sandbox adds to each request, ms, so timings look like a real round trip. @default 20 */
  latencyMs?: number;
}

const SECRET_ID = 'pat-revoker/dfns-credential';

/** Runs the demo end to end; every server is closed and the environment restored before it returns. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const rehearsal = await startRehearsal({ tokens: 3, latencyMs: options.latencyMs ?? 20 });
  const { sandbox } = rehearsal;
  const [secrets, sqs] = await Promise.all([startSecretsManager(), startSqs()]);
  secrets.setSecret(SECRET_ID, JSON.stringify(rehearsal.secret));
  const restore = setEnv(
    loopbackEnv({
      dfnsApiUrl: sandbox.url,
      secretsManagerUrl: secrets.url,
      deadLetterQueueUrl: sqs.deadLetterQueueUrl,
      secretId: SECRET_ID,
    }),
  );
  try {
    const [a, b, c] = rehearsal.tokenIds as [string, string, string];
    const off = sandbox.addPat({ isActive: false }).tokenId;
    const unknown = newTokenId();
    const event = sqsEvent([
      {
        messageId: 'msg-1',
        body: {
          tokenIds: [a, b],
          incidentId: 'INC-1042',
          reason: 'PAT found in a public repository',
          requestedBy: 'playbook:leaked-credential',
        },
      },
      {
        messageId: 'msg-2',
        body: {
          tokenIds: [c, unknown],
          incidentId: 'INC-1043',
          reason: 'impossible travel',
          requestedBy: 'siem:rule-221',
        },
      },
      { messageId: 'msg-3', body: { tokenId: off, incidentId: 'INC-1042', requestedBy: 'analyst:jdoe' } },
    ]);

    write('pat-revoker demo: everything runs on loopback, no AWS account and no internet needed.\n');
    write(`  Dfns sandbox       ${sandbox.url} (verifies every signature, challenge and user action)\n`);
    write(`  Secrets Manager    ${secrets.url} (secret ${SECRET_ID}: a fresh Ed25519 service-account key)\n`);
    write(`  Dead-letter queue  ${sqs.deadLetterQueueUrl}\n\n`);
    write(`Invoking the handler with an SQS batch of ${event.Records.length} records:\n`);
    for (const record of event.Records) write(`  ${record.messageId}  ${record.body}\n`);
    write('\n');

    // The handler logs JSON to stdout (that is its audit trail); collect it and show a table instead.
    const handler = createHandler(createContainer(loadConfig()));
    const { value: response, lines } = await collectStdout(
      () => handler(event, lambdaContext(60_000)) as Promise<SQSBatchResponse>,
    );
    const logLines = lines;
    const rows = logLines
      .filter((line) => line.message === 'revocation')
      .map((line): DemoRow => {
        const tokenId = String(line.tokenId);
        return {
          messageId: String(line.messageId),
          tokenId,
          outcome: String(line.outcome),
          ...(typeof line.latencyMs === 'number' ? { ms: line.latencyMs } : {}),
          isActiveAfter: sandbox.isActive(tokenId) ?? 'unknown',
        };
      });
    const deadLetters = await sqs.drainDeadLetters();

    write(table(rows));
    write(`\nbatchItemFailures: ${JSON.stringify(response.batchItemFailures)}`);
    write(response.batchItemFailures.length === 0 ? ' (no record needs a retry)\n' : '\n');
    write(`Dead-letter queue: ${deadLetters.length} message(s)\n`);
    for (const message of deadLetters) {
      write(`  attributes ${JSON.stringify(message.attributes)}\n`);
      write(`${JSON.stringify(message.body, null, 2).replace(/^/gm, '  ')}\n`);
    }
    write(
      `\n${rows.length} audit lines and ${logLines.length - rows.length} other JSON lines (metrics) were written to stdout by the handler.\n`,
    );
    return { rows, response, deadLetters, logLines };
  } finally {
    restore();
    await Promise.all([sandbox.close(), secrets.close(), sqs.close()]);
  }
}

/** Sets variables and returns a function restoring the previous values. */
function setEnv(values: Record<string, string>): () => void {
  const previous = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  return () => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** Runs `fn` while collecting the JSON lines written to stdout (the handler's logs and metrics). */
async function collectStdout<T>(fn: () => Promise<T>): Promise<{ value: T; lines: Array<Record<string, unknown>> }> {
  const original = process.stdout.write.bind(process.stdout);
  let buffer = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    buffer += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    const value = await fn();
    const lines = buffer.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    return { value, lines };
  } finally {
    process.stdout.write = original;
  }
}

function table(rows: DemoRow[]): string {
  const header = ['record', 'token ID', 'outcome', 'ms', 'isActive at Dfns'];
  const cells = rows.map((r) => [
    r.messageId,
    r.tokenId,
    r.outcome,
    r.ms === undefined ? '-' : String(r.ms),
    String(r.isActiveAfter),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n')}\n`;
}
