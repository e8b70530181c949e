/**
 * Captures what the function prints. Powertools Logger and Metrics write to process.stdout through their own
 * Console, so jest's console capture does not see them: the stream itself is intercepted.
 */
import { jest } from '@jest/globals';
import { recordOutput } from './hygiene-buffer.js';

/** Output captured between start and stop. */
export interface Captured {
  /** Raw text written to stdout and stderr. */
  text(): string;
  /** Lines that parse as JSON objects. */
  json(): Array<Record<string, any>>;
  /** Audit lines (`message: "revocation"`). */
  audit(): Array<Record<string, any>>;
  /** EMF metric blobs. */
  metrics(): Array<Record<string, any>>;
  stop(): void;
}

const active: Captured[] = [];

/** Stops every capture still running (newest first), e.g. one a test started in place of another. */
export function stopAllCaptures(): void {
  while (active.length > 0) active[active.length - 1]!.stop();
}

/** Starts capturing stdout and stderr (nothing is echoed). */
export function captureOutput(): Captured {
  let buffer = '';
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      buffer += text;
      recordOutput(text); // still subject to the suite-wide secret hygiene check
      return true;
    }) as never),
  );
  const json = () =>
    buffer.split('\n').flatMap((line) => {
      try {
        const value: unknown = JSON.parse(line);
        return typeof value === 'object' && value !== null ? [value as Record<string, any>] : [];
      } catch {
        return [];
      }
    });
  const captured: Captured = {
    text: () => buffer,
    json,
    audit: () => json().filter((l) => l.message === 'revocation'),
    metrics: () => json().filter((l) => l._aws?.CloudWatchMetrics),
    stop: () => {
      const at = active.indexOf(captured);
      if (at >= 0) active.splice(at, 1);
      for (const spy of spies) spy.mockRestore();
    },
  };
  active.push(captured);
  return captured;
}
