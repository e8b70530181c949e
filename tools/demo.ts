/** `npm start`: the local demo (see tools/demo/run.ts). Exits 0 when it ran through, 1 otherwise. */

// The AWS SDK warns at import that its 2027 releases need Node 22; irrelevant to a local demo on Node 20 (the
// function itself runs on the Lambda nodejs22.x+ runtime). Set before the SDK is imported.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { runDemo } = await import('./demo/run.js');

try {
  const { rows } = await runDemo();
  if (rows.length === 0) throw new Error('the handler reported no outcome');
} catch (error) {
  process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
