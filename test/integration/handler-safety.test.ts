/**
 * What operators rely on beyond outcomes: no secret ever printed, and a bad deployment failing at start-up with the
 * variable's name. Also drives the module's own `handler` export, built from the process environment at import.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dfnsError } from '../../tools/sandbox/faults.js';
import { newTokenId } from '../../tools/sandbox/ids.js';
import { captureOutput } from '../support/stdout.js';
import { startWorld, type World } from '../support/world.js';

let world: World;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => world.close());

/** Every 16-character window of a secret, so a partial leak is caught too. */
function windows(secret: string, size = 16): string[] {
  const out: string[] = [];
  for (let i = 0; i + size <= secret.length; i += 4) out.push(secret.slice(i, i + size));
  return out;
}

describe('the module handler', () => {
  it('is built from the process environment and switches PATs off', async () => {
    const tokenIds = world.sandbox.seedPats(2);
    const output = captureOutput();
    try {
      const response = await world.deployed([{ messageId: 'm1', body: { tokenIds, incidentId: 'INC-7' } }]);
      expect(response).toEqual({ batchItemFailures: [] });
    } finally {
      output.stop();
    }
    expect(tokenIds.map((t) => world.sandbox.isActive(t))).toEqual([false, false]);
    expect(output.audit().map((l) => [l.tokenId, l.outcome, l.incidentId])).toEqual([
      [tokenIds[0], 'deactivated', 'INC-7'],
      [tokenIds[1], 'deactivated', 'INC-7'],
    ]);
    // Powertools adds the Lambda context to every line.
    expect(output.audit()[0]).toMatchObject({ level: 'INFO', service: 'pat-revoker', function_name: 'pat-revoker' });
  });
});

/** Runs `fn` with these process variables set (Powertools reads its own at each cold start), then restores them. */
async function withProcessEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const previous = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('the audit trail survives the log level (records, not diagnostics)', () => {
  it.each(['WARN', 'ERROR', 'SILENT'])(
    'POWERTOOLS_LOG_LEVEL=%s: every audit line is written, at INFO',
    async (level) => {
      const tokenIds = world.sandbox.seedPats(2);
      const output = captureOutput();
      try {
        await withProcessEnv({ POWERTOOLS_LOG_LEVEL: level }, async () => {
          const handler = world.handler();
          await handler([
            { messageId: 'm1', body: { tokenIds, incidentId: 'INC-L', requestedBy: 'soc', reason: 'leak' } },
            { messageId: 'm2', body: { tokenIds: ['junk'] } },
          ]);
        });
      } finally {
        output.stop();
      }
      expect(tokenIds.map((t) => world.sandbox.isActive(t))).toEqual([false, false]);
      expect(output.audit().map((l) => [l.level, l.messageId, l.outcome, l.requestedBy])).toEqual([
        ['INFO', 'm1', 'deactivated', 'soc'],
        ['INFO', 'm1', 'deactivated', 'soc'],
        ['INFO', 'm2', 'invalid', undefined],
      ]);
      // diagnostics still follow POWERTOOLS_LOG_LEVEL: nothing but audit lines at INFO
      expect(output.json().filter((l) => l.level === 'INFO' && l.message !== 'revocation')).toEqual([]);
      await world.sqs.drainDeadLetters();
    },
  );

  it.each([
    ['WARN', 'ERROR'],
    ['error', 'ERROR'],
    ['FATAL', 'CRITICAL'],
  ])(
    'AWS_LAMBDA_LOG_LEVEL=%s (Lambda drops lines below it): the cold start logs one %s naming it',
    async (level, said) => {
      const output = captureOutput();
      try {
        await withProcessEnv({ AWS_LAMBDA_LOG_LEVEL: level }, async () => {
          const handler = world.handler({ AWS_LAMBDA_LOG_LEVEL: level });
          await handler([]);
          await handler([]);
        });
      } finally {
        output.stop();
      }
      expect(output.json().filter((l) => l.level === 'ERROR' || l.level === 'CRITICAL')).toEqual([
        expect.objectContaining({
          level: said,
          message: expect.stringMatching(/^AWS_LAMBDA_LOG_LEVEL is \w+: .*the audit lines \(INFO\) are lost/),
          awsLambdaLogLevel: level.toUpperCase(),
        }),
      ]);
    },
  );

  it('AWS_LAMBDA_LOG_LEVEL=INFO (what the stack pins): no such error', async () => {
    const output = captureOutput();
    try {
      await withProcessEnv({ AWS_LAMBDA_LOG_LEVEL: 'INFO' }, async () => {
        await world.handler({ AWS_LAMBDA_LOG_LEVEL: 'INFO' })([]);
      });
    } finally {
      output.stop();
    }
    expect(output.json().filter((l) => l.level === 'ERROR')).toEqual([]);
  });
});

describe('logger state never leaks between records or invocations', () => {
  it("every line carries only its own record's metadata and its own invocation's request ID, concurrent tokens included", async () => {
    type Spec = {
      messageId: string;
      body: { tokenIds: string[]; incidentId?: string; requestedBy?: string; reason?: string };
    };
    const record = (messageId: string, n: number, meta: Omit<Spec['body'], 'tokenIds'> = {}): Spec => ({
      messageId,
      body: { tokenIds: world.sandbox.seedPats(n), ...meta },
    });
    // Records with and without metadata, interleaved, several tokens each (deactivated concurrently across records).
    const first = [
      record('a1', 3, { incidentId: 'INC-A', requestedBy: 'soc-a', reason: 'leak a' }),
      record('a2', 3),
      record('a3', 3, { incidentId: 'INC-C', reason: 'leak c' }),
      record('a4', 2, { requestedBy: 'soc-d' }),
    ];
    // A record whose metadata is refused: its warning is a diagnostic line of this invocation.
    const odd = { messageId: 'a5', body: { tokenIds: world.sandbox.seedPats(1), incidentId: 42 } };
    const second = [record('b1', 3), record('b2', 2, { reason: 'leak e' })];
    const handler = world.handler({ MAX_CONCURRENCY: '8' });
    const output = captureOutput();
    try {
      await handler([...first, odd]);
      await handler(second);
    } finally {
      output.stop();
    }
    const specs = new Map<string, Spec>([...first, ...second].map((r) => [r.messageId, r]));
    specs.set('a5', { messageId: 'a5', body: { tokenIds: odd.body.tokenIds } });
    const audit = output.audit();
    expect(audit).toHaveLength(17);
    for (const line of audit) {
      const spec = specs.get(line.messageId) as Spec;
      expect([line.messageId, line.incidentId, line.requestedBy, line.reason]).toEqual([
        spec.messageId,
        spec.body.incidentId,
        spec.body.requestedBy,
        spec.body.reason,
      ]);
      expect(spec.body.tokenIds).toContain(line.tokenId);
    }
    // one request ID per invocation, never the other's, on every line (the warning included)
    const lines = output.json();
    const requestIds = (ids: string[]) =>
      new Set(lines.filter((l) => ids.includes(l.messageId)).map((l) => l.function_request_id));
    const [one, two] = [requestIds(['a1', 'a2', 'a3', 'a4', 'a5']), requestIds(['b1', 'b2'])];
    expect([one.size, two.size]).toEqual([1, 1]);
    expect([...one][0]).not.toEqual([...two][0]);
    // the diagnostic lines carry only what they were given: the warning names its record, and nothing of another's
    const diagnostics = lines.filter((l) => l.message !== 'revocation' && l.level !== undefined);
    expect(diagnostics).toEqual([
      expect.objectContaining({ level: 'WARN', messageId: 'a5', warnings: [expect.stringMatching(/incidentId/)] }),
    ]);
    for (const line of diagnostics) {
      expect(['incidentId', 'requestedBy', 'reason', 'tokenId'].filter((k) => k in line)).toEqual([]);
    }
  });
});

describe('no secret in any output', () => {
  it.each(['INFO', 'DEBUG'])('at log level %s: no auth token, key material or user action', async (level) => {
    const previous = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = level;
    const output = captureOutput();
    const secrets: string[] = [];
    try {
      const first = world.useAccount('ed25519');
      const handler = world.handler();
      const [ok, refused, partly] = world.sandbox.seedPats(3) as [string, string, string];
      // Dfns echoing our bearer back in an error must not carry it into the audit line.
      world.sandbox.injectFault({
        route: 'deactivate',
        tokenId: refused,
        respond: dfnsError(403, `denied for ${first.authToken}`),
      });
      // ... or only a piece of it.
      world.sandbox.injectFault({
        route: 'init',
        tokenId: partly,
        respond: dfnsError(401, `token ${first.authToken.slice(20, 90)}... expired`),
      });
      await handler([
        { messageId: 'm1', body: { tokenIds: [ok, refused, newTokenId(), 'junk'], incidentId: 'INC-1' } },
        { messageId: 'm1b', body: { tokenIds: [partly] } },
        { messageId: 'm2', body: 'not json' },
      ]);
      // Rotation: the old token is revoked, the secret now holds another account (P-256), one refetch.
      const second = world.useAccount('p256');
      world.sandbox.revokeAuthToken(first.authToken);
      await handler([{ messageId: 'm3', body: { tokenIds: world.sandbox.seedPats(2) } }]);
      // And a credential that stays rejected.
      world.sandbox.revokeAuthToken(second.authToken);
      await handler([{ messageId: 'm4', body: { tokenIds: world.sandbox.seedPats(1) } }]);

      for (const account of [first, second]) {
        secrets.push(...windows(account.authToken));
        const der = account.privateKey
          .split('\n')
          .filter((l) => !l.startsWith('-----'))
          .join('');
        secrets.push(...windows(der));
      }
      for (const request of world.sandbox.requestsTo('deactivate')) {
        const userAction = request.headers['x-dfns-useraction'];
        if (userAction) secrets.push(...windows(userAction));
      }
    } finally {
      output.stop();
      if (previous === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = previous;
    }
    const text = output.text();
    expect(output.audit().length).toBeGreaterThanOrEqual(8); // the test saw real output
    expect(world.sandbox.requestsTo('deactivate').length).toBeGreaterThanOrEqual(4);
    expect(secrets.length).toBeGreaterThan(100);
    const leaked = secrets.filter((s) => text.includes(s));
    expect(leaked).toEqual([]);
    expect(await world.sqs.drainDeadLetters()).toHaveLength(2);
  });
});

describe('a function-wide dry run never goes unnoticed', () => {
  it('warns once at the cold start and counts DryRunActive on every invocation', async () => {
    const output = captureOutput();
    try {
      const handler = world.handler({ DRY_RUN: 'true' });
      for (let i = 0; i < 2; i++)
        await handler([{ messageId: `m${i}`, body: { tokenIds: world.sandbox.seedPats(1) } }]);
    } finally {
      output.stop();
    }
    const warnings = output.json().filter((l) => l.level === 'WARN' && /DRY_RUN is on/.test(l.message));
    expect(warnings).toHaveLength(1);
    expect(
      output
        .metrics()
        .map((m) => m.DryRunActive)
        .filter((v) => v !== undefined),
    ).toEqual([1, 1]);
    expect(output.audit().map((l) => l.outcome)).toEqual(['dry_run', 'dry_run']);
  });
});

describe('start-up', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const start = (env: Record<string, string | undefined>) => {
    const clean = { ...process.env, ...world.env, ...env };
    for (const [k, v] of Object.entries(clean)) if (v === undefined) delete clean[k];
    return spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "await import('./functions/revoke-pats/handler.ts')"],
      { cwd: root, env: clean as NodeJS.ProcessEnv, encoding: 'utf8' },
    );
  };

  it('loads with a valid environment', () => {
    const result = start({});
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each([
    ['DFNS_API_URL', { DFNS_API_URL: undefined }, 'DFNS_API_URL: is required'],
    ['DEAD_LETTER_QUEUE_URL', { DEAD_LETTER_QUEUE_URL: '' }, 'DEAD_LETTER_QUEUE_URL: is required'],
    ['MAX_CONCURRENCY', { MAX_CONCURRENCY: 'lots' }, 'MAX_CONCURRENCY: must be a whole number'],
    ['DFNS_API_URL', { DFNS_API_URL: 'http://api.dfns.io' }, 'DFNS_API_URL: must use https:'],
  ])('fails when %s is missing or malformed, naming it', (_name, env, message) => {
    const result = start(env);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`ConfigError: ${message}`);
  });
});
