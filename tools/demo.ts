/** `npm start`: the local demo (see tools/demo/run.ts). Exits 0 when it ran through. */
import { runDemo } from './demo/run.js';

try {
  await runDemo();
} catch (error) {
  process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
