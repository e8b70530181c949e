/**
 * `npm start`: the whole loop on one machine (tools/world, tools/demo/incident.ts). Exits 0 when every outcome is the
 * script's, 1 otherwise. `npm start -- --serve` keeps the world up for hands-on rehearsal, prints the line that
 * points the operator CLI at it, and stops on Ctrl-C.
 */
import { parseArgs } from 'node:util';

// The AWS SDK warns at import that its 2027 releases need Node 22; irrelevant to a local rehearsal on Node 20 (the
// function itself runs on the Lambda nodejs22.x+ runtime). Set before the SDK is imported.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { report, runIncident, startIncidentWorld } = await import('./demo/incident.js');

let serve = false;
try {
  serve = parseArgs({ options: { serve: { type: 'boolean' } } }).values.serve === true;
} catch (error) {
  process.stderr.write(`npm start: ${(error as Error).message}\nusage: npm start [-- --serve]\n`);
  process.exit(2);
}

const write = (text: string) => process.stdout.write(text);
const outcomes = new Map<string, string>();
write('starting the loop on this machine (bundling the handler, loopback SQS, Dfns sandbox, Secrets Manager) ...\n');
const world = await startIncidentWorld(outcomes);
write(`${world.describe()}\n\n`);
let code = 0;
try {
  if (serve) {
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const envFile = join(tmpdir(), `pat-revoker-world-${process.pid}.env`);
    world.writeEnvFile(envFile);
    const tokens = world.sandbox.seedPats(3);
    write(
      `the world is up; seeded PATs: ${tokens.join(' ')}\npoint the CLI at it:\n\n  source ${envFile} && npm run -s revoke -- status --queue-url "$PAT_REVOKER_QUEUE_URL"\n\nCtrl-C stops it.\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    const { rmSync } = await import('node:fs');
    rmSync(envFile, { force: true });
  } else {
    const result = await runIncident(world, outcomes, write);
    write(report(world, result));
    code = result.asScripted ? 0 : 1;
  }
} catch (error) {
  process.stderr.write(`npm start failed: ${(error as Error).message}\n`);
  code = 1;
} finally {
  await world.close();
}
process.exit(code);
