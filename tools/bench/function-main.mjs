/**
 * The function's process in `npm run bench`: plain `node` (no tsx, no bench code), as a Lambda container runs it, so
 * its CPU time and memory are the function's own. Driven by tools/bench/function-process.ts over IPC:
 *
 * 1. imports the bundle given as argv[2] (module initialisation, as a cold start) and says `{ type: 'ready', initMs }`;
 * 2. for each `{ type: 'invoke', event, context }`, invokes the handler with a 15-minute deadline and answers
 *    `{ type: 'done', retriedRecords }`: it holds one event at a time, as a container does;
 * 3. on `{ type: 'finish' }`, answers `{ type: 'measurements', ... }` once its stdout (the audit lines, read by the
 *    bench as Lambda reads its log pipe) has drained, and exits.
 *
 * CPU is counted from the first invocation on, and separately from the second on (warm: no JIT warm-up, no first
 * connections). `liveHeapMb` is the heap after a full GC at the end (with --expose-gc): what invocations leave behind.
 */
import { pathToFileURL } from 'node:url';

const INVOCATION_MS = 900_000;
const warnings = [];
process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message.split('\n')[0]}`));

const importStarted = performance.now();
const { handler } = await import(pathToFileURL(process.argv[2]).href);
const initMs = performance.now() - importStarted;

let invocations = 0;
let cpuStart;
let cpuWarm;
process.on('message', async (message) => {
  if (message.type === 'invoke') {
    cpuStart ??= process.cpuUsage();
    const deadline = Date.now() + INVOCATION_MS;
    const context = { ...message.context, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
    const { batchItemFailures } = await handler(message.event, context);
    invocations += 1;
    if (invocations === 1) cpuWarm = process.cpuUsage();
    process.send({ type: 'done', retriedRecords: batchItemFailures.length });
    return;
  }
  if (message.type === 'finish') {
    const cpu = process.cpuUsage(cpuStart);
    const warm = invocations > 1 ? process.cpuUsage(cpuWarm) : undefined;
    globalThis.gc?.();
    const measurements = {
      type: 'measurements',
      cpuMicros: cpu.user + cpu.system,
      warmCpuMicros: warm ? warm.user + warm.system : undefined,
      maxRssKb: process.resourceUsage().maxRSS,
      liveHeapMb: globalThis.gc ? process.memoryUsage().heapUsed / 2 ** 20 : undefined,
      warnings,
    };
    // A pipe whose reader lags takes writes asynchronously: exit only once every audit line is out.
    process.stdout.write('', () => process.send(measurements, () => process.exit(0)));
  }
});
// The bench is gone (killed, interrupted): nobody will read the measurements.
process.once('disconnect', () => process.exit(1));
process.send({ type: 'ready', initMs });
