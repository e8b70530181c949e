/**
 * What `npm audit --omit=dev --audit-level=high --json` said, for CI: the production dependencies' high and critical
 * advisories, or that the registry's advisory service did not answer. A CI machine does not control its network: an
 * unanswered audit is reported plainly as "not audited" and does not fail the run, and is never reported as clean.
 */

/** The outcome of one audit. */
export type AuditVerdict =
  | { audited: true; high: number; critical: number; total: number; dependencies: number }
  | { audited: false; why: string };

/**
 * Reads npm audit's JSON output.
 *
 * @param stdout what `npm audit --json` printed (a report, or an error object when the advisory service failed)
 */
export function auditVerdict(stdout: string): AuditVerdict {
  let report: unknown;
  try {
    report = JSON.parse(stdout);
  } catch {
    return { audited: false, why: 'npm audit printed no JSON report' };
  }
  const r = report as {
    metadata?: { vulnerabilities?: Record<string, number>; dependencies?: { prod?: number } };
    message?: unknown;
    error?: { summary?: unknown };
  };
  const counts = r.metadata?.vulnerabilities;
  if (!counts) {
    const why = [r.message, r.error?.summary].find((v) => typeof v === 'string') as string | undefined;
    return { audited: false, why: (why ?? 'no report').slice(0, 300) };
  }
  return {
    audited: true,
    high: counts.high ?? 0,
    critical: counts.critical ?? 0,
    total: counts.total ?? 0,
    dependencies: r.metadata?.dependencies?.prod ?? 0,
  };
}

/** The line CI prints, and the exit code: 1 only for high or critical advisories. */
export function describeVerdict(verdict: AuditVerdict): { line: string; code: number } {
  if (!verdict.audited) {
    return {
      line: `npm audit: the registry's advisory service did not answer (${verdict.why}): production dependencies NOT audited`,
      code: 0,
    };
  }
  const severe = verdict.high + verdict.critical;
  return {
    line:
      severe > 0
        ? `npm audit: ${verdict.critical} critical and ${verdict.high} high advisories in production dependencies: run npm audit --omit=dev`
        : `npm audit: no high or critical advisory in ${verdict.dependencies} production dependencies (${verdict.total} lower)`,
    code: severe > 0 ? 1 : 0,
  };
}
