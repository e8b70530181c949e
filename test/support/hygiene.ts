/**
 * Secret hygiene over the whole suite (jest setupFilesAfterEnv): everything a test file prints, directly or
 * through captureOutput(), is kept, and after the file no bearer token, private-key material or user action that a
 * sandbox issued may appear in it.
 */
import { afterAll } from '@jest/globals';
import { issuedSecrets } from '../../tools/sandbox/sandbox.js';
import { findLeaks, recordedOutput, recordOutput } from './hygiene-buffer.js';

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    recordOutput(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof stream.write;
}
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    recordOutput(args.map((a) => (typeof a === 'string' ? a : (JSON.stringify(a) ?? String(a)))).join(' '));
    original(...args);
  };
}

afterAll(() => {
  const leaks = findLeaks(recordedOutput(), issuedSecrets());
  if (leaks.length > 0) {
    throw new Error(
      `secret material in this file's output: ${leaks.length} piece(s), e.g. ${JSON.stringify(leaks[0]!.slice(0, 6))}…`,
    );
  }
});
