/**
 * The benchmark's sandbox in a process of its own (as Dfns is remote: its CPU is not the function's), started through
 * `npm run sandbox`'s entry.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KeyKind } from '../sandbox/ids.js';

/** A started sandbox process: where it listens, its seeded PATs and its service account's credential. */
export interface SandboxProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  tokens: string[];
  secret: { authToken: string; credId: string; privateKey: string };
}

/** What to start: `tokens` seeded PATs, `latencyMs` per request, a `key` account, its credential written to a file. */
export interface SandboxProcessOptions {
  tokens: number;
  latencyMs: number;
  key: KeyKind;
  /** Where the sandbox writes the credential (a private key): in a folder the caller removes. */
  credentialFile: string;
}

/**
 * Starts the sandbox CLI in a child process; resolves once it prints its usage. The child is added to `started` as
 * soon as it is spawned, so that the caller stops it even when it fails to start or the run is interrupted.
 */
export async function startSandboxProcess(
  options: SandboxProcessOptions,
  started: ChildProcessWithoutNullStreams[],
): Promise<SandboxProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('../sandbox/main.ts', import.meta.url)),
      '--port',
      '0',
      '--tokens',
      String(options.tokens),
      '--latency',
      String(options.latencyMs),
      '--key',
      options.key,
      '--credential-file',
      options.credentialFile,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  started.push(child);
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    out += chunk;
    if (out.includes('Press Ctrl-C to stop.')) break;
  }
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
  if (!url) throw new Error(`the sandbox did not start: ${(err || out).trim()}`);
  const tokens = [...out.matchAll(/^ {2}(to-[a-z0-9-]+)$/gm)].map((m) => m[1] as string);
  return { child, url, tokens, secret: JSON.parse(readFileSync(options.credentialFile, 'utf8')) };
}
