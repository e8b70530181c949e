/**
 * The function as deployed: CDK bundles it once (local esbuild, no Docker) for one environment, and plain `node`
 * imports that exact file and invokes it with a fixture event. Catches ESM/CJS bundling faults ("Dynamic require
 * of ... is not supported") that otherwise only show after deploy.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ESM_REQUIRE_BANNER } from '../../infra/bundling.js';
import { startSecretsManager } from '../../tools/aws/secrets-manager.js';
import { startSandbox } from '../../tools/sandbox/sandbox.js';
import { sqsEvent } from '../support/events.js';
import { synthesize } from '../support/cdk.js';

let outdir: string;
let bundle: string;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'pat-revoker-bundle-'));
  const { byName } = synthesize({ only: 'dev', bundle: true, outdir });
  const fn = Object.values(byName.get('dev')!.template.findResources('AWS::Lambda::Function'))[0] as any;
  const key = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
  bundle = join(outdir, `asset.${key}`, 'index.mjs');
}, 60_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the bundled handler', () => {
  it('is one minified ESM file with the createRequire banner, under 1 MB with everything bundled', () => {
    expect(existsSync(bundle)).toBe(true);
    const code = readFileSync(bundle, 'utf8');
    expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*as handler/);
    expect(statSync(bundle).size).toBeLessThan(1024 * 1024);
  });

  it('loads with plain node, declares at most (event, context), and answers a fixture event (dry run: no Dfns call)', async () => {
    const event = sqsEvent([
      { messageId: 'smoke-1', body: { tokenIds: ['to-aaaaa-bbbbb-cccccccccccccccc'], incidentId: 'INC-SMOKE' } },
      { messageId: 'smoke-2', body: { tokenId: 'to-ddddd-eeeee-ffffffffffffffff', dryRun: true } },
    ]);
    const script = `
      const { handler } = await import(${JSON.stringify(bundle)});
      const context = { functionName: 'pat-revoker', awsRequestId: 'smoke', getRemainingTimeInMillis: () => 60000 };
      process.stdout.write('ARITY ' + handler.length + '\\n');
      const result = await handler(${JSON.stringify(event)}, context);
      process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');`;
    // Even a dry run loads the credential (it names the token never to switch off): a loopback secret store holds it.
    const [secrets, sandbox] = await Promise.all([startSecretsManager(), startSandbox()]);
    const secretId = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:pat-revoker/dfns-credential-Ab12Cd';
    secrets.setSecret(secretId, JSON.stringify(sandbox.createServiceAccount()));
    const run = await new Promise<{ stdout: string; stderr: string; status: number | null }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        {
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'eu-west-1',
            AWS_EC2_METADATA_DISABLED: 'true',
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
            DFNS_API_URL: 'https://api.dfns.io',
            DFNS_CREDENTIALS_SECRET_ID: secretId,
            AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
            AWS_ACCESS_KEY_ID: 'test',
            AWS_SECRET_ACCESS_KEY: 'test',
            DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/111111111111/pat-revoker-dev-requests-dlq',
            DRY_RUN: 'true',
          },
        },
        (_error, stdout, stderr) => resolve({ stdout, stderr, status: child.exitCode }),
      );
    });
    await Promise.all([secrets.close(), sandbox.close()]);
    // Nothing on stderr but the cold start's warning that the dry run is on (as every dry-run container says).
    expect(
      run.stderr
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).message),
    ).toEqual(['DRY_RUN is on: this function deactivates no token; every valid request ends dry_run']);
    expect(run.status).toBe(0);
    const lines = run.stdout.split('\n');
    expect(JSON.parse(lines.find((l) => l.startsWith('RESULT '))!.slice(7))).toEqual({ batchItemFailures: [] });
    // nodejs24.x refuses at init a handler declaring three parameters (the callback style): at most event, context.
    const arity = Number(lines.find((l) => l.startsWith('ARITY '))?.slice(6));
    expect(arity).toBeGreaterThanOrEqual(0);
    expect(arity).toBeLessThanOrEqual(2);
    const audit = lines.filter((l) => l.includes('"message":"revocation"')).map((l) => JSON.parse(l));
    expect(audit.map((l) => [l.messageId, l.outcome])).toEqual([
      ['smoke-1', 'dry_run'],
      ['smoke-2', 'dry_run'],
    ]);
    expect(secrets.calls).toEqual([secretId]);
  }, 30_000);
});
