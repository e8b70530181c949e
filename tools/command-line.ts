/**
 * The one command-line framework of the project's tools (the operator CLI, the sandbox, the benchmarks, the demo):
 * commander 14, with the conventions every tool keeps.
 *
 * - Exit codes: 0 done (and `--help`, `--version`), 1 failed, 2 bad usage (nothing done).
 * - Usage errors and messages on stderr, results and requested help on stdout.
 * - An option given twice is refused unless it collects ({@link collect}); a bad value names the option and the rule.
 *
 * Why commander 14: it runs on Node 20 (15.x needs Node ≥ 22.12, and the CI machine has Node 20); it has
 * per-command options and help, `exitOverride` (so a tool decides its exit code and tests can run it in-process),
 * custom value parsers, and no dependencies. yargs 18 needs Node ≥ 20.19 and builds help from a larger API.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

export { Command, InvalidArgumentError, Option };

/** Exit codes of every tool. */
export const EXIT = { done: 0, failed: 1, usage: 2 } as const;

/** The project's version (package.json), for `--version`. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Where a tool writes; injectable so tests can run a program in-process. */
export interface ToolOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** For messages built only from checked values (see {@link UsageError}); default {@link stderr}. */
  stderrChecked?: (text: string) => void;
}

/** Thrown by a tool's own checks after parsing: a usage error, exit 2, message on stderr with a pointer to help. */
export class UsageError extends Error {
  override name = 'UsageError';
  /**
   * @param checked the message is built only from values that were checked (a queue URL that matched its pattern,
   *   AWS' own answers): a tool that masks what operators may have pasted prints it as it is
   */
  constructor(
    message: string,
    readonly checked = false,
  ) {
    super(message);
  }
}

/**
 * A program (or a tool's only command) with the shared conventions: `--version`, help after a usage error, output
 * to `out`, and no `process.exit` from commander itself ({@link runProgram} maps its errors to exit codes).
 */
export function toolProgram(name: string, description: string, out: ToolOutput): Command {
  const program = new Command(name).description(description).version(VERSION, '-V, --version');
  return configure(program, out);
}

/** Applies the shared output and exit handling to `command` (subcommands call it too). */
export function configure(command: Command, out: ToolOutput): Command {
  return command
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .allowExcessArguments(false);
}

/**
 * Parses `argv` (without node and the script) and runs the action. Returns the exit code: the action's, 0 for
 * `--help`/`--version`, 2 for a usage error (commander's or a {@link UsageError}, whose message it prints).
 */
export async function runProgram(
  program: Command,
  argv: readonly string[],
  out: ToolOutput,
  action: () => Promise<number> | number = () => EXIT.done,
): Promise<number> {
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version print and end with exitCode 0; everything else is a usage error.
      return error.exitCode === 0 ? EXIT.done : EXIT.usage;
    }
    if (error instanceof UsageError) {
      (error.checked ? (out.stderrChecked ?? out.stderr) : out.stderr)(
        `${program.name()}: ${error.message}\n(add --help for usage)\n`,
      );
      return EXIT.usage;
    }
    throw error;
  }
  return action();
}

/**
 * A value parser for a whole number from `min` to `max`, given at most once.
 *
 * @throws InvalidArgumentError (commander prints it naming the option; exit 2)
 */
export function integer(min: number, max: number): (value: string, previous: unknown) => number {
  return once((value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}, got "${value}"`);
    }
    return n;
  });
}

/**
 * Wraps a value parser so that a second occurrence of the option is refused (`--incident a --incident b` is an
 * operator's mistake, not a choice between the two). Options using it must have no default in commander: apply
 * defaults after parsing, or the default counts as the first occurrence.
 */
export function once<T>(parse: (value: string) => T): (value: string, previous: unknown) => T {
  return (value, previous) => {
    if (previous !== undefined) throw new InvalidArgumentError('it may be given only once');
    return parse(value);
  };
}

/** A string option given at most once. */
export const single: (value: string, previous: unknown) => string = once((value) => value);

/** A value parser that collects every occurrence (`--file a --file b`: both). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `names` as a choice refused unless exactly one of them, given at most once. */
export function choice<T extends string>(names: readonly T[]): (value: string, previous: unknown) => T {
  return once((value) => {
    if (!names.includes(value as T)) {
      throw new InvalidArgumentError(`must be one of ${names.join(', ')}, got "${value}"`);
    }
    return value as T;
  });
}
