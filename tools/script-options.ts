/**
 * The command lines of the npm scripts (`npm run sandbox`, `npm run bench`, `npm start`) on the shared framework,
 * tools/command-line.ts. They are scripts, not functions: they parse once, then run (or exit), so the parse here ends
 * the process when there is nothing to run.
 */
import type { OptionValues } from 'commander';
import { type Command, runProgram, toolProgram, type ToolOutput } from './command-line.js';

/** The process's own streams: results and help on stdout, usage errors on stderr. */
const processOutput: ToolOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * A program named `name` in its messages (`sandbox: ...`) whose help starts `Usage: <usage>`: how to run it through
 * npm (`npm run sandbox -- [options]`), which commander's name-based usage line cannot say.
 */
export function scriptProgram(name: string, usage: string, description: string): Command {
  return toolProgram(name, description, processOutput).configureHelp({ commandUsage: () => usage });
}

/**
 * Parses `argv` with `program` and turns the options given into the script's settings with `resolve`, which applies
 * the defaults and the checks between options (throwing a `UsageError` naming them). Ends the process when there is
 * nothing to run: 0 after `--help` or `--version`, 2 after a usage error (message on stderr).
 *
 * @returns the settings
 */
export async function parseOrExit<Given extends OptionValues, Settings>(
  program: Command,
  resolve: (given: Given) => Settings,
  argv: readonly string[] = process.argv.slice(2),
): Promise<Settings> {
  let settings: { value: Settings } | undefined;
  // Resolved in commander's action, inside runProgram's parse, so that a UsageError from `resolve` exits 2 as
  // commander's own errors do; help and version never reach the action.
  program.action(() => {
    settings = { value: resolve(program.opts<Given>()) };
  });
  const code = await runProgram(program, argv, processOutput);
  if (settings === undefined) process.exit(code);
  return settings.value;
}
