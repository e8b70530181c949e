/**
 * What the operator CLI reads and writes, and how it presents results: the one place that knows about terminals,
 * colour, `--quiet` and `--output`. Injectable, so tests can run the CLI in-process as well as a process.
 */
import { styleText } from 'node:util';
import { cutUtf8 } from '../../functions/lib/format-error.js';
import { capLines } from '../../functions/lib/output-cap.js';
import { maskSecrets } from '../../functions/lib/secret-values.js';

/** The CLI's surroundings. */
export interface CliIo {
  /** Results (the table or the JSON document). */
  stdout: (text: string) => void;
  /** Messages: the target, progress lines, warnings, errors. */
  stderr: (text: string) => void;
  /** Standard input, read whole only when asked for (`--file -`). @throws when it is a terminal */
  readStdin: () => string;
  /** One line typed by the operator after `question` (printed on stderr); only called when {@link canAsk}. */
  ask: (question: string) => Promise<string>;
  /** Whether there is a terminal to ask on (stdin and stderr are both terminals). */
  canAsk: boolean;
  /** The environment variables (the SDK reads its own; the CLI reads `NO_COLOR` and the endpoint variables). */
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal that shows colour. */
  stdoutColours: boolean;
  /** For the progress bar: the stderr stream, when it is a terminal. */
  progressStream?: NodeJS.WritableStream;
  /** Aborted on Ctrl-C: the command stops what it is doing and reports what it has done. */
  interrupt: AbortSignal;
}

/** How results are shown: `--output`, `--quiet`, colour. */
export interface Presentation {
  output: 'table' | 'json';
  quiet: boolean;
}

/** The CLI's writers: every line capped; messages, which may echo what an operator typed, masked. */
export interface Writers {
  /** A result line (stdout): AWS' answers, message IDs and task handles stay usable as printed. */
  result: (text: string) => void;
  /** A message (stderr), always shown. */
  message: (text: string) => void;
  /** Information (stderr), not shown with `--quiet`. */
  info: (text: string) => void;
  /**
   * Information built only from checked values (a queue URL or ARN that matched its pattern, an account, a region)
   * and formatError texts, AWS' own answers (a task handle): not masked, so a long queue URL stays readable. Not shown with `--quiet`.
   */
  infoChecked: (text: string) => void;
  /**
   * A message (stderr), always shown, built only from checked values and paths passed through {@link shownPath}: not
   * masked, so that a file the operator must open is named as it is.
   */
  messageChecked: (text: string) => void;
  /** `text` in `colour` when stdout shows colour (and `NO_COLOR` is not set). */
  paint: (text: string, colour: 'red' | 'green' | 'yellow' | 'bold') => string;
}

/** The writers for `io` and `presentation`. */
export function writers(io: CliIo, presentation: Presentation): Writers {
  // NO_COLOR (https://no-color.org): any non-empty value turns colour off.
  const colours = io.stdoutColours && !io.env.NO_COLOR;
  const message = (text: string) => io.stderr(capLines(maskSecrets(text)));
  return {
    result: (text) => io.stdout(capLines(text)),
    message,
    messageChecked: (text) => io.stderr(capLines(text)),
    info: (text) => {
      if (!presentation.quiet) message(text);
    },
    infoChecked: (text) => {
      if (!presentation.quiet) io.stderr(capLines(text));
    },
    paint: (text, colour) => (colours ? styleText(colour, text, { validateStream: false }) : text),
  };
}

/**
 * A file path as a message shows it. {@link maskSecrets} takes any long run of letters and digits for key material,
 * and so turned the default resend file `pat-revoker-not-queued-20240101T120000Z.txt` (and most paths) into a
 * fingerprint, naming a file that does not exist. A path is shown as it is, but for a segment holding a JWT or a PEM
 * marker, the secrets an operator may paste, which is masked.
 */
export function shownPath(path: string): string {
  return path
    .split('/')
    .map((segment) => (/eyJ|-----BEGIN /.test(segment) ? maskSecrets(segment) : segment))
    .join('/');
}

/**
 * The most a string in a JSON document takes, in UTF-8 bytes: escaped (at most 6 bytes a byte, `\u0000`), its line
 * stays under the line cap, which would otherwise cut the line and leave the document invalid JSON.
 */
export const MAX_JSON_STRING_BYTES = 8 * 1024;

/**
 * Prints `value` as the command's JSON document (one, pretty-printed, newline-terminated). Every string is cut to
 * {@link MAX_JSON_STRING_BYTES} (marked), so that no line reaches the line cap: a huge text in AWS' answer (a
 * failure message) must not make the document unparseable.
 */
export function printJson(write: Writers, value: unknown): void {
  const bounded = (_key: string, v: unknown) => (typeof v === 'string' ? cutUtf8(v, MAX_JSON_STRING_BYTES) : v);
  write.result(`${JSON.stringify(value, bounded, 2)}\n`);
}

/**
 * Lays out `rows` as left-aligned columns under `header` (numbers right-aligned), two spaces apart. Colour codes in
 * a cell do not count towards its width.
 */
export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are what is removed
  const visible = (cell: string) => cell.replace(/\u001b\[[0-9;]*m/g, '').length;
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => visible(row[i] ?? ''))));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number'));
  return `${cells
    .map((row) =>
      row
        .map((cell, i) => {
          const pad = ' '.repeat((widths[i] ?? 0) - visible(cell));
          return numeric[i] ? pad + cell : cell + pad;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
