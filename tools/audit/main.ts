/**
 * `npm run audit`: the production dependencies against the registry's advisories at `--audit-level=high`; exits 1
 * for a high or critical advisory, and says plainly (exit 0) when the advisory service cannot answer.
 */
import { spawnSync } from 'node:child_process';
import { auditVerdict, describeVerdict } from './verdict.js';

const run = spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], {
  encoding: 'utf8',
  timeout: 120_000,
});
const { line, code } = describeVerdict(auditVerdict(run.stdout ?? ''));
(code === 0 ? process.stdout : process.stderr).write(`${line}\n`);
process.exit(code);
