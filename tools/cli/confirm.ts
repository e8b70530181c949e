/**
 * The brake before a prod change: a redrive, or an enqueue of more than `--confirm-above` tokens, waits for a typed
 * "yes". `--yes` is for scripts; with no terminal to ask on and no `--yes`, the command stops with exit 2 and never
 * waits for an answer that cannot come.
 */
import { UsageError } from '../command-line.js';
import type { CliIo } from './io.js';

/** The default of `--confirm-above`: prod enqueues of more tokens than this are confirmed. */
export const CONFIRM_ABOVE_DEFAULT = 500;

/** Thrown when the operator answers anything but yes: nothing was sent. */
export class NotConfirmed extends Error {
  override name = 'NotConfirmed';
}

/**
 * Returns when the change may go ahead.
 *
 * @param what the change, as the question names it (e.g. "queue 2500 token IDs on prod")
 * @throws UsageError with no terminal and no `--yes` (exit 2)
 * @throws NotConfirmed when the answer is not "yes" (exit 1)
 */
export async function confirmProd(io: CliIo, what: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!io.canAsk) {
    throw new UsageError(`${what}: this needs confirmation and there is no terminal to ask on; give --yes`);
  }
  const answer = await io.ask(`${what}? Type yes to go ahead: `);
  if (answer.trim().toLowerCase() !== 'yes')
    throw new NotConfirmed(`not confirmed (answer "${answer.trim()}"): nothing sent`);
}
