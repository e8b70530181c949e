/** `npm run -s revoke -- <command> ...` / the `pat-revoker` bin: see cli.ts for commands and exit codes. */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';

// The SDK warns at load that its 2027 releases need Node 22; this project pins its SDK version. Set first.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { runCli, EXIT_INTERRUPTED } = await import('./cli.js');

// Ctrl-C once: the command stops, says what it did and did not do, and exits 130. Twice: at once.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
  interrupt.abort(new Error('interrupted by Ctrl-C'));
});

// `npm run revoke` runs the CLI in the checkout; relative paths (--file, --resend-file) are the operator's, from
// where npm was run (npm sets INIT_CWD to it).
if (process.env.npm_lifecycle_event === 'revoke' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

const terminal = process.stdin.isTTY === true && process.stderr.isTTY === true;
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: () => {
    if (process.stdin.isTTY) throw new Error('standard input is a terminal: pipe token IDs into --file -');
    return readFileSync(0, 'utf8');
  },
  canAsk: terminal,
  ask: async (question) => {
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await prompt.question(question, { signal: interrupt.signal });
    } finally {
      prompt.close();
    }
  },
  env: process.env,
  stdoutColours: process.stdout.isTTY === true && process.stdout.hasColors(),
  ...(process.stderr.isTTY ? { progressStream: process.stderr } : {}),
  interrupt: interrupt.signal,
});
