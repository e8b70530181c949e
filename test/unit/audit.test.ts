/** CI's dependency audit: a high or critical advisory fails it; an unanswered audit is said, never called clean. */
import { describe, expect, it } from '@jest/globals';
import { auditVerdict, describeVerdict } from '../../tools/audit/verdict.js';

const report = (vulnerabilities: Record<string, number>) =>
  JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities: {},
    metadata: { vulnerabilities, dependencies: { prod: 120, dev: 400, total: 520 } },
  });

describe('the dependency audit', () => {
  it.each([
    [
      { info: 0, low: 1, moderate: 2, high: 0, critical: 0, total: 3 },
      0,
      /no high or critical advisory in 120 production dependencies \(3 lower\)/,
    ],
    [{ info: 0, low: 0, moderate: 0, high: 1, critical: 0, total: 1 }, 1, /0 critical and 1 high advisories/],
    [{ info: 0, low: 0, moderate: 0, high: 0, critical: 2, total: 2 }, 1, /2 critical and 0 high advisories/],
  ])('reads a report %j: exit %i', (counts, code, line) => {
    const verdict = describeVerdict(auditVerdict(report(counts)));
    expect(verdict.code).toBe(code);
    expect(verdict.line).toMatch(line);
  });

  it.each([
    [
      'a refused advisory request',
      JSON.stringify({
        message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
        statusCode: 405,
      }),
      /405 Method Not Allowed/,
    ],
    [
      'an npm error object',
      JSON.stringify({ error: { code: 'ENOTFOUND', summary: 'request to https://registry.npmjs.org failed' } }),
      /request to https:\/\/registry.npmjs.org failed/,
    ],
    ['no output at all', '', /printed no JSON report/],
  ])('says plainly when there was no audit (%s): NOT audited, exit 0', (_name, stdout, why) => {
    const verdict = describeVerdict(auditVerdict(stdout));
    expect(verdict).toEqual({ line: expect.stringMatching(/NOT audited$/), code: 0 });
    expect(verdict.line).toMatch(why);
  });
});
