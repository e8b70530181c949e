/**
 * The `npm start` demo, as a function so a test can run exactly the same path (CI never runs `npm start`).
 *
 * Until the Lambda handler lands (next issue) it shows what exists: the sandbox with seeded PATs and a generated
 * Ed25519 service-account key, and our Dfns client switching those PATs off with signed user actions. The token
 * list holds one PAT that is already off and one token ID Dfns does not know, as a real incident list would.
 */
import { DfnsClient } from '../../functions/lib/dfns/client.js';
import { DfnsError } from '../../functions/lib/dfns/errors.js';
import { SigningKey } from '../../functions/lib/dfns/signing.js';
import { newTokenId } from '../sandbox/ids.js';
import { startRehearsal } from '../sandbox/rehearsal.js';

/** One row of the demo's result table. */
export interface DemoRow {
  tokenId: string;
  /** `deactivated`, or the error's name and HTTP status. */
  result: string;
  /** Wall time of the deactivation attempt, in ms. */
  ms: number;
  /** The PAT's `isActive` at the sandbox afterwards; `unknown` for a token it does not know. */
  isActiveAfter: boolean | 'unknown';
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the table goes. @default process.stdout */
  write?: (text: string) => void;
  /** Latency the sandbox adds to each request, in ms, to make the timings look like a real round trip. @default 20 */
  latencyMs?: number;
}

/** Runs the demo end to end and returns its rows; the sandbox is closed before it returns. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRow[]> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const rehearsal = await startRehearsal({ tokens: 3, latencyMs: options.latencyMs ?? 20 });
  const { sandbox, secret } = rehearsal;
  try {
    const alreadyOff = sandbox.addPat({ isActive: false }).tokenId;
    const unknown = newTokenId();
    const tokenIds = [...rehearsal.tokenIds, alreadyOff, unknown];
    write(`Dfns sandbox on ${sandbox.url}; service account with a fresh Ed25519 key; ${tokenIds.length} token IDs\n\n`);

    const client = new DfnsClient({
      apiUrl: sandbox.url,
      credential: { authToken: secret.authToken, credId: secret.credId, key: SigningKey.fromPem(secret.privateKey) },
    });
    const rows = await Promise.all(
      tokenIds.map(async (tokenId): Promise<DemoRow> => {
        const started = performance.now();
        let result = 'deactivated';
        try {
          await client.deactivatePat(tokenId);
        } catch (error) {
          if (!(error instanceof DfnsError)) throw error;
          result = `${error.name}${'status' in error ? ` ${String(error.status)}` : ''} at ${error.step}`;
        }
        const ms = Math.round(performance.now() - started);
        return { tokenId, result, ms, isActiveAfter: sandbox.isActive(tokenId) ?? 'unknown' };
      }),
    );
    write(table(rows));
    write(`\n${sandbox.requestCount} requests to the sandbox, every signature verified; ${sandbox.connections} connection(s).\n`);
    return rows;
  } finally {
    await sandbox.close();
  }
}

function table(rows: DemoRow[]): string {
  const header = ['token ID', 'result', 'ms', 'isActive at Dfns after'];
  const cells = rows.map((r) => [r.tokenId, r.result, String(r.ms), String(r.isActiveAfter)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}
