/** Checks shared by the tools' command lines: a bad value gets a message naming the option, the usage, and exit 2. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The checks of one tool. */
export interface ArgumentChecks {
  /** Prints `<tool>: <message>` and the usage to stderr and exits 2. */
  fail(message: string): never;
  /** `value` as a whole number from `min` to `max`, or {@link fail} naming `--<name>`. */
  integer(name: string, value: string, min: number, max: number): number;
  /**
   * The command line's options (`process.argv`), or {@link fail} for an unknown or malformed one; `-h`/`--help`
   * prints the usage and exits 0.
   */
  parse<O extends Options>(options: O): ReturnType<typeof parseArgs<{ options: O }>>['values'];
}

/** The checks for one tool; `tool` prefixes each message, `help` follows it. */
export function argumentChecks(tool: string, help: string): ArgumentChecks {
  const fail = (message: string): never => {
    process.stderr.write(`${tool}: ${message}\n\n${help}\n`);
    process.exit(2);
  };
  return {
    fail,
    parse: (options) => {
      if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
        process.stdout.write(`${help}\n`);
        process.exit(0);
      }
      try {
        return parseArgs({ options }).values;
      } catch (error) {
        return fail((error as Error).message);
      }
    },
    integer: (name, value, min, max) => {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || n > max)
        fail(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
      return n;
    },
  };
}
