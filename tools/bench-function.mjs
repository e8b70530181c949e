/**
 * The function's process in `npm run bench`: plain `node` (no tsx, no bench code), as a Lambda container runs it, so
 * its CPU time and peak RSS are the function's own.
 *
 * Usage (by tools/bench.ts only): `node tools/bench-function.mjs <bundle.mjs>` with the function's environment and
 * an IPC channel. It imports the bundle (module initialisation, as a cold start), says `{ ready, initMs }`, takes
 * `{ events, context }`, invokes the handler once per SQS event, in order, each with a 15-minute deadline, and
 * answers `{ seconds, cpuMicros, maxRssKb, retriedRecords, warnings }`. The audit lines go to stdout, a pipe the
 * bench reads, as Lambda's go to its log pipe.
 */
import { pathToFileURL } from 'node:url';

const INVOCATION_MS = 900_000;
const warnings = [];
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message.split('\n')[0]}`));

const importStarted = performance.now();
const { handler } = await import(pathToFileURL(process.argv[2]).href);
const initMs = performance.now() - importStarted;

process.once('message', async ({ events, context }) => {
  let retriedRecords = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (const event of events) {
    const deadline = Date.now() + INVOCATION_MS;
    const { batchItemFailures } = await handler(event, { ...context, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });
    retriedRecords += batchItemFailures.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const result = { seconds, cpuMicros: cpu.user + cpu.system, maxRssKb: process.resourceUsage().maxRSS, retriedRecords, warnings };
  // A pipe whose reader lags takes writes asynchronously: exit only once every audit line is out.
  process.stdout.write('', () => process.send(result, () => process.exit(0)));
});
process.send({ ready: true, initMs });
