/** `npm run revoke -- <command> ...` / the `pat-revoker` bin: see cli.ts for commands and exit codes. */
import { readFileSync } from 'node:fs';

// The SDK warns at load that its 2027 releases need Node 22; this project pins its SDK version. Set first.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { runCli } = await import('./cli.js');

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: () => {
    if (process.stdin.isTTY) throw new Error('standard input is a terminal: pipe token IDs into --file -');
    return readFileSync(0, 'utf8');
  },
});
