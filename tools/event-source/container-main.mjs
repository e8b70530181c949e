/**
 * One Lambda execution environment of the emulated SQS event source (driven by tools/event-source/container.ts over
 * IPC). Plain `node`, no tsx and no emulator code in this process, so the function runs as it does in Lambda's
 * Node.js runtime: its module state, its timers and its CPU are its own.
 *
 * 1. Init: imports the handler module (argv[2]) once and says `{ type: 'ready', initMs }`; an import that throws, or
 *    a module without a `handler` function, says `{ type: 'init-error', errorType, errorMessage }` and exits 1.
 * 2. Invoke: for each `{ type: 'invoke', requestId, event, context, timeoutMs }`, calls `handler(event, context)` with
 *    a `getRemainingTimeInMillis()` that counts down from `timeoutMs` on this process's own clock, and answers
 *    `{ type: 'result', requestId, json }` (the response as Lambda serialises it: `undefined` becomes `null`),
 *    `{ type: 'error', requestId, errorType, errorMessage }` when the handler throws or rejects (the process stays
 *    warm, as the Node.js runtime keeps an environment whose handler returned an error), or
 *    `{ type: 'unserializable', requestId, errorMessage }` when the response cannot be turned into JSON.
 *
 * An uncaught exception or an unhandled rejection ends the process (Node's default, as the Lambda runtime exits on
 * them): the emulator sees a crash and starts a cold environment next time.
 */
import { pathToFileURL } from 'node:url';

/** The error fields Lambda reports (`errorType`, `errorMessage`), for any thrown value. */
const describe = (error) => ({
  errorType: error instanceof Error ? error.name : typeof error,
  errorMessage: error instanceof Error ? error.message : String(error),
});

/** Lambda serialises the handler's return value as JSON; `undefined` travels as `null`. */
function serialize(value) {
  try {
    return { type: 'result', json: JSON.stringify(value) ?? 'null' };
  } catch (error) {
    return { type: 'unserializable', errorMessage: describe(error).errorMessage };
  }
}

async function init() {
  const started = performance.now();
  const module = await import(pathToFileURL(process.argv[2]).href);
  if (typeof module.handler !== 'function') throw new TypeError(`${process.argv[2]} exports no function "handler"`);
  return { handler: module.handler, initMs: performance.now() - started };
}

function serve(handler) {
  process.on('message', async (message) => {
    if (message?.type !== 'invoke') return;
    const deadline = Date.now() + message.timeoutMs;
    const context = {
      ...message.context,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    let reply;
    try {
      reply = serialize(await handler(message.event, context));
    } catch (error) {
      reply = { type: 'error', ...describe(error) };
    }
    // The invocation's log lines go first: a write callback runs once what was written before it is out.
    process.stdout.write('', () => process.send({ ...reply, requestId: message.requestId }));
  });
}

// The emulator is gone (closed, killed): nobody will invoke this environment again.
process.once('disconnect', () => process.exit(1));
init().then(
  ({ handler, initMs }) => {
    serve(handler);
    process.send({ type: 'ready', initMs });
  },
  (error) => process.send({ type: 'init-error', ...describe(error) }, () => process.exit(1)),
);
