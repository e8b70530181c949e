/**
 * `npm run bench -- --incident [options]` (`--incident --help` for them): the incident benchmark of issue 17. The
 * whole loop on one machine with k containers against the sandbox enforcing the organisation's limit, the
 * organisation's own traffic beside it, on a clock `--scale` times faster. It prints the figures against the ideal
 * `DFNS_REQUESTS_PER_MINUTE / 3` and the targets, where the rest of the ideal goes, and ends with
 * `incident: <N> tokens/min, <P>% of ideal, <Q>% of its requests refused, <K> refused to the organisation`.
 */
import { parseIncidentOptions } from './incident-options.js';
import { incidentLine, incidentReport } from './incident-report.js';
import { measureIncident } from './incident-run.js';

/**
 * Runs the incident benchmark with the options of `process.argv`.
 *
 * @returns the exit code: 0 when every token ended deactivated (the figures may still miss their targets: they are
 *   measurements, not a test), 1 otherwise; a bad option has already exited 2 (and `--help` 0)
 */
export async function runIncidentBench(): Promise<number> {
  const settings = await parseIncidentOptions();
  const say = (text: string) => process.stderr.write(`${text}\n`);
  say('starting the loop on this machine (bundling the handler, loopback SQS, Dfns sandbox) ...');
  const started = performance.now();
  const measured = await measureIncident(settings, say);
  const { text, figures } = incidentReport(measured);
  process.stdout.write(text);
  say(`wall time ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (!figures.allDeactivated) return 1;
  process.stdout.write(`${incidentLine(figures)}\n`);
  return 0;
}
