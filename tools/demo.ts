/**
 * `npm start`: the whole loop on one machine (tools/world, tools/demo/incident.ts). Exits 0 when every outcome is the
 * script's, 1 otherwise. `npm start -- --serve` keeps the world up for hands-on rehearsal, prints the line that
 * points the operator CLI at it, and stops on Ctrl-C.
 */
import { parseOrExit, scriptProgram } from './script-options.js';

// Parsed before anything heavy is imported: `--help` and a usage error answer at once.
const { serve } = await parseOrExit(
  scriptProgram(
    'npm start',
    'npm start -- [options]',
    "The whole loop on one machine (loopback SQS, the emulated event source running the bundled handler, the Dfns sandbox, Secrets Manager) through a scripted incident. Exit codes: 0 every outcome is the script's, 1 otherwise, 2 bad usage.",
  ).option(
    '--serve',
    'keep the world up for hands-on rehearsal instead: print the line that points the operator CLI at it; Ctrl-C stops it',
  ),
  (given: { serve?: true }) => ({ serve: given.serve === true }),
);

// The AWS SDK warns at import that its 2027 releases need Node 22; irrelevant to a local rehearsal on Node 20 (the
// function itself runs on the Lambda nodejs22.x+ runtime). Set before the SDK is imported.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { report, runIncident, startIncidentWorld } = await import('./demo/incident.js');

const write = (text: string) => process.stdout.write(text);
const outcomes = new Map<string, string>();
write('starting the loop on this machine (bundling the handler, loopback SQS, Dfns sandbox, Secrets Manager) ...\n');
// Served, the world says what the function did with each token, as its audit lines come.
const world = await startIncidentWorld(
  outcomes,
  serve
    ? ({ tokenId, outcome, detail, incidentId }) =>
        write(`outcome: ${tokenId} ${outcome}${incidentId ? ` (${incidentId})` : ''}${detail ? `: ${detail}` : ''}\n`)
    : undefined,
);
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
      [
        `the world is up; seeded PATs: ${tokens.join(' ')}`,
        'point the CLI at it (in a subshell: the file sets AWS_* variables for loopback, which a shell keeps):',
        '',
        `  ( source ${envFile} && npm run -s revoke -- status )`,
        '',
        'The CLI finds the queue in PAT_REVOKER_QUEUE_URL; the world keeps no CloudWatch metrics, and status says so.',
        'Outcomes are printed here as the function reports them. Ctrl-C stops it.',
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      // A closed terminal (SIGHUP) must not leave the env file and the world's processes behind either.
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => resolve());
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
