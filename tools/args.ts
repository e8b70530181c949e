/** Checks shared by the tools' command lines: a bad value gets a message naming the option, the usage, and exit 2. */

/** The checks of one tool. */
export interface ArgumentChecks {
  /** Prints `<tool>: <message>` and the usage to stderr and exits 2. */
  fail(message: string): never;
  /** `value` as a whole number from `min` to `max`, or {@link fail} naming `--<name>`. */
  integer(name: string, value: string, min: number, max: number): number;
}

/** The checks for one tool; `tool` prefixes each message, `help` follows it. */
export function argumentChecks(tool: string, help: string): ArgumentChecks {
  const fail = (message: string): never => {
    process.stderr.write(`${tool}: ${message}\n\n${help}\n`);
    process.exit(2);
  };
  return {
    fail,
    integer: (name, value, min, max) => {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || n > max) fail(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
      return n;
    },
  };
}
