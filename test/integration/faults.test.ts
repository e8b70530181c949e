/**
 * The fault matrix: every kind of trouble an incident brings, injected into the sandbox or the loopback Secrets
 * Manager, through the real handler. Each case asserts the token's final state at the sandbox, the exact
 * `batchItemFailures`, the DLQ and the audit outcome, plus what the sandbox saw (attempts, aborted requests) and
 * the delays the retry policy asked for (an instant clock records them: no test waits for a real backoff).
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { dfnsError, htmlError, type SandboxFault } from '../../tools/sandbox/faults.js';
import { newTokenId } from '../../tools/sandbox/ids.js';
import { virtualClock, type InstantClock } from '../support/clock.js';
import { eventually } from '../support/dfns.js';
import { startHungServer } from '../support/hung-server.js';
import { captureOutput, type Captured } from '../support/stdout.js';
import { SECRET_ID, useWorld, type World } from '../support/world.js';

/** What every dead letter says of its record's sender (the events' SenderId) and send time. */
const SENT = { senderId: 'AROAEXAMPLE:playbook', sentAt: expect.any(String) };

let world: World;
let output: Captured;
let clock: InstantClock;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });
beforeEach(() => {
  clock = virtualClock();
});

/** Runs one record naming `tokenId` through a fresh handler with fast timeouts and the instant clock. */
async function revoke(tokenId: string, env: Record<string, string> = {}, receiveCount = 1) {
  const handler = world.handler({ DFNS_REQUEST_TIMEOUT_MS: '300', ...env }, { clock, random: () => 0.5 });
  const response = await handler([
    { messageId: 'm1', body: { tokenIds: [tokenId], incidentId: 'INC-F' }, receiveCount },
  ]);
  return { response, audit: output.audit(), dead: await world.sqs.drainDeadLetters() };
}

const inits = () => world.sandbox.requestsTo('init').length;
const DONE = { batchItemFailures: [] };
const RETRY = { batchItemFailures: [{ itemIdentifier: 'm1' }] };

describe('recovered within the invocation: the token ends deactivated', () => {
  const cases: Array<[string, Omit<SandboxFault, 'tokenId'>, number[]]> = [
    [
      '429 with Retry-After: 0 (floored, no hot loop)',
      { route: 'init', respond: dfnsError(429, 'Too many requests', { 'retry-after': '0' }) },
      [100],
    ],
    [
      '429 without Retry-After (a pause of 1 s for every flow)',
      { route: 'action', respond: dfnsError(429, 'Too many requests') },
      [1000],
    ],
    [
      '429 with Retry-After: 2',
      { route: 'deactivate', respond: dfnsError(429, 'Too many requests', { 'retry-after': '2' }) },
      [2000],
    ],
    ['500', { route: 'action', respond: dfnsError(500, 'Internal Server Error') }, [100]],
    ['502 with an HTML body', { route: 'init', respond: htmlError(502) }, [100]],
    ['503 with an empty body', { route: 'deactivate', respond: { status: 503 } }, [100]],
    ['a socket reset before the answer', { route: 'deactivate', reset: true }, [100]],
    [
      'a socket reset after the work was done (the repeat is answered as done)',
      { route: 'deactivate', reset: true, afterProcessing: true },
      [100],
    ],
    ['a hung request (aborted by the request timeout)', { route: 'deactivate', hang: true }, [100]],
    ['an answer that stops halfway', { route: 'action', midBody: 'reset' }, [100]],
    [
      'an unsolicited 101 Switching Protocols (a hang-up, never a hang)',
      { route: 'deactivate', respond: { status: 101, headers: { upgrade: 'h2c', connection: 'Upgrade' } } },
      [100],
    ],
    ['a non-JSON 200', { route: 'deactivate', respond: { status: 200, body: 'OK' } }, [100]],
    [
      'a reused user action (redo the whole flow)',
      { route: 'deactivate', respond: dfnsError(400, 'User action has already been used') },
      [100],
    ],
    [
      'an expired challenge (redo the whole flow)',
      { route: 'action', respond: dfnsError(400, 'Challenge has expired') },
      [100],
    ],
  ];

  it.each(cases)('%s', async (_name, fault, sleeps) => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ ...fault, tokenId });
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(DONE);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    expect(audit.map((l) => l.outcome)).toEqual(['deactivated']);
    expect(dead).toEqual([]);
    expect(inits()).toBe(2); // every retry starts at a fresh challenge
    expect(clock.sleeps).toEqual(sleeps);
  });

  it('a 429 is never one of the DFNS_MAX_ATTEMPTS attempts: three of them, pauses doubling, then done', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'init', tokenId, times: 3, respond: dfnsError(429, 'Too many requests') });
    const { response, audit } = await revoke(tokenId, { DFNS_MAX_ATTEMPTS: '1' });
    expect(response).toEqual(DONE);
    expect(audit.map((l) => l.outcome)).toEqual(['deactivated']);
    expect(inits()).toBe(4);
    expect(clock.sleeps).toEqual([1000, 2000, 4000]);
  });

  it('a hung request is aborted: the sandbox sees it closed by the client', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'deactivate', tokenId, hang: true });
    await revoke(tokenId);
    const hung = world.sandbox.requestsTo('deactivate')[0]!;
    await eventually(() => hung.closedByClient, 'the hung PUT to be closed');
  });

  it('the retry after a 401 and a refetch is not one of the DFNS_MAX_ATTEMPTS attempts', async () => {
    const { tokenId } = world.sandbox.addPat();
    const old = world.secret;
    const handler = world.handler({ DFNS_MAX_ATTEMPTS: '1' }, { clock });
    await handler([{ body: { tokenIds: world.sandbox.seedPats(1) } }]); // caches the old credential
    world.useAccount('p256');
    world.sandbox.revokeAuthToken(old.authToken);
    const response = await handler([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response).toEqual(DONE);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
  });

  it('a slow but correct answer needs no retry', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'deactivate', tokenId, delayMs: 150 });
    const { response, audit } = await revoke(tokenId);
    expect(response).toEqual(DONE);
    expect(audit[0]).toMatchObject({ outcome: 'deactivated' });
    expect(inits()).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('a 401 after the secret was rotated: one refetch, then done', async () => {
    const { tokenId } = world.sandbox.addPat();
    const handler = world.handler({}, { clock });
    await handler([{ body: { tokenIds: world.sandbox.seedPats(1) } }]);
    const old = world.secret;
    world.useAccount('rsa');
    world.sandbox.revokeAuthToken(old.authToken);
    world.secrets.calls.length = 0;
    const response = await handler([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response).toEqual(DONE);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    expect(world.secrets.calls).toEqual([SECRET_ID]);
    expect(clock.sleeps).toEqual([]);
  });
});

describe('still failing after every attempt: failed, the record retried', () => {
  it.each([
    [
      '502 with HTML every time',
      { route: 'action', times: 3, respond: htmlError(502) } as SandboxFault,
      3,
      /HTTP 502: no Dfns error message \(text\/html/,
    ],
    ['a reset every time', { route: 'deactivate', times: 3, reset: true } as SandboxFault, 3, /ECONNRESET/],
    [
      '429 with a huge Retry-After (left to SQS)',
      { route: 'init', respond: dfnsError(429, 'Slow down', { 'retry-after': '3600' }) } as SandboxFault,
      1,
      /429 .*paused for 900 s: the Dfns request budget has no room before the invocation deadline/, // at most 15 min
    ],
    [
      '429 with an HTTP-date an hour away',
      {
        route: 'init',
        respond: dfnsError(429, 'Slow down', { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() }),
      } as SandboxFault,
      1,
      /429 .*paused for 900 s: the Dfns request budget has no room/,
    ],
  ])('%s', async (_name, fault, attempts, detail) => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ ...fault, tokenId });
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(RETRY);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    expect(audit).toEqual([expect.objectContaining({ outcome: 'failed', detail: expect.stringMatching(detail) })]);
    expect(dead).toEqual([]);
    expect(inits()).toBe(attempts);
  });

  it('an HTTP-date Retry-After a few seconds away is waited for', async () => {
    const { tokenId } = world.sandbox.addPat();
    const at = new Date(Date.now() + 4_000).toUTCString();
    world.sandbox.injectFault({ route: 'init', tokenId, respond: dfnsError(429, 'Slow down', { 'retry-after': at }) });
    const { response } = await revoke(tokenId);
    expect(response).toEqual(DONE);
    expect(clock.sleeps).toHaveLength(1);
    expect(clock.sleeps[0]).toBeGreaterThan(2_000);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(4_000);
  });
});

describe('final answers about the token: no retry', () => {
  it.each([
    ['403 on the PUT', dfnsError(403, 'Forbidden'), 'rejected', true],
    ['404 on the PUT', dfnsError(404, 'Not found'), 'not_found', true],
    ['202 (a policy holds it for approval)', { status: 202, body: { id: 'ap-7' } }, 'pending_approval', false],
  ])('%s', async (_name, respond, outcome, deadLettered) => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'deactivate', tokenId, respond });
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(DONE);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    expect(audit).toEqual([expect.objectContaining({ outcome })]);
    expect(inits()).toBe(1);
    expect(dead).toEqual(
      deadLettered
        ? [
            {
              body: expect.objectContaining({
                tokenIds: [tokenId],
                failures: [expect.objectContaining({ tokenId, outcome })],
              }),
              attributes: { outcome, sourceMessageId: 'm1' },
            },
          ]
        : [],
    );
  });

  it('403 at init (a missing permission of the service account) is failed, not rejected, and not retried in the invocation', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({
      route: 'init',
      tokenId,
      respond: dfnsError(403, 'Missing permission Auth:Pats:Update'),
    });
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(RETRY);
    expect(audit).toEqual([
      expect.objectContaining({ outcome: 'failed', detail: expect.stringMatching(/configuration or request fault/) }),
    ]);
    expect(dead).toEqual([]);
    expect(inits()).toBe(1);
  });
});

describe('Secrets Manager', () => {
  it('throttling: the SDK retries, then every record is retried and nothing is dead-lettered', async () => {
    world.secrets.injectFault({ type: 'ThrottlingException', times: 10 });
    const { tokenId } = world.sandbox.addPat();
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(RETRY);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    expect(audit).toEqual([
      expect.objectContaining({ outcome: 'failed', detail: expect.stringMatching(/ThrottlingException/) }),
    ]);
    expect(dead).toEqual([]);
    expect(world.secrets.calls.length).toBe(3); // one GetSecretValue: the SDK's standard retry mode makes 3 attempts
  });

  it.each([
    ['access denied', () => world.secrets.injectFault({ type: 'AccessDeniedException' }), /AccessDeniedException/],
    ['secret missing', () => world.secrets.deleteSecret(SECRET_ID), /ResourceNotFoundException/],
    ['malformed secret', () => world.secrets.setSecret(SECRET_ID, '{"authToken":"x"}'), /credId must be a string/],
  ])('%s: the record is retried, the audit line names the problem', async (_name, breakIt, detail) => {
    breakIt();
    const { tokenId } = world.sandbox.addPat();
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(RETRY);
    expect(world.sandbox.isActive(tokenId)).toBe(true);
    expect(audit).toEqual([expect.objectContaining({ outcome: 'failed', detail: expect.stringMatching(detail) })]);
    expect(dead).toEqual([]);
  });
});

describe('the deadline guard', () => {
  it('aborts work in flight and starts nothing more when the time left falls under the margin', async () => {
    const [hung, second, third] = world.sandbox.seedPats(3) as [string, string, string];
    world.sandbox.injectFault({ route: 'deactivate', tokenId: hung, hang: true });
    const handler = world.handler(
      { DFNS_REQUEST_TIMEOUT_MS: '60000', MAX_CONCURRENCY: '1', DEADLINE_MARGIN_MS: '1000' },
      { clock },
    );
    const response = await handler(
      [
        { messageId: 'm1', body: { tokenIds: [hung] } },
        { messageId: 'm2', body: { tokenIds: [second] } },
        { messageId: 'm3', body: { tokenIds: [third, 'bad'] } },
      ],
      1_300, // 300 ms of work before the guard fires
    );
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }],
    });
    const put = world.sandbox.requestsTo('deactivate')[0]!;
    await eventually(() => put.closedByClient, 'the hung PUT to be aborted');
    expect(world.sandbox.requestsTo('init')).toHaveLength(1); // the two others never started
    expect([hung, second, third].map((t) => world.sandbox.isActive(t))).toEqual([true, true, true]);
    expect(output.audit().map((l) => [l.messageId, l.outcome, l.detail])).toEqual([
      ['m1', 'failed', expect.stringMatching(/aborted by the caller \(invocation deadline\)/)],
      ['m2', 'failed', expect.stringMatching(/not started: the invocation deadline is near/)],
      ['m3', 'failed', expect.stringMatching(/not started/)],
      ['m3', 'invalid', expect.any(String)],
    ]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('with no time left beyond the smallest margin, nothing starts; invalid records are still dead-lettered', async () => {
    const { tokenId } = world.sandbox.addPat();
    const handler = world.handler({ DEADLINE_MARGIN_MS: '5000' }, { clock });
    const response = await handler(
      [
        { messageId: 'm1', body: { tokenIds: [tokenId] } },
        { messageId: 'm2', body: '{}' },
      ],
      900,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(world.sandbox.requestCount).toBe(0);
    expect(await world.sqs.drainDeadLetters()).toEqual([
      expect.objectContaining({ attributes: { outcome: 'invalid', sourceMessageId: 'm2' } }),
    ]);
  });

  it('a 4 s invocation with every setting at its default still deactivates, and says once per container why the margin shrank', async () => {
    const [first, second] = world.sandbox.seedPats(2) as [string, string];
    const handler = world.handler({}, { clock });
    expect(await handler([{ messageId: 'm1', body: { tokenIds: [first] } }], 4_000)).toEqual(DONE);
    expect(await handler([{ messageId: 'm2', body: { tokenIds: [second] } }], 4_000)).toEqual(DONE);
    expect([first, second].map((t) => world.sandbox.isActive(t))).toEqual([false, false]);
    expect(output.audit().map((l) => l.outcome)).toEqual(['deactivated', 'deactivated']);
    const warnings = output.json().filter((l) => l.level === 'WARN');
    expect(warnings).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/too short for DEADLINE_MARGIN_MS/),
        deadlineMarginMs: 5000,
        appliedMarginMs: 1000,
      }),
    ]);
  });

  it('a stuck dead-letter queue cannot hold the invocation past its deadline: the send is aborted, the record retried', async () => {
    const stuck = await startHungServer();
    try {
      // The SDK timeout (25 s) is far past the deadline (2.5 s): without the abort, jest's 20 s test timeout fails this.
      const { SQSClient } = await import('@aws-sdk/client-sqs');
      const sqs = new SQSClient({ endpoint: stuck.url, requestHandler: { requestTimeout: 25_000 }, maxAttempts: 1 });
      const handler = world.handler(
        { DEADLINE_MARGIN_MS: '1500', DEAD_LETTER_QUEUE_URL: `${stuck.url}/123456789012/dlq` },
        { clock, sqs },
      );
      const response = await handler([{ messageId: 'm1', body: { tokenIds: [newTokenId()] } }], 2_500);
      expect(response).toEqual(RETRY);
      expect(stuck.accepted).toBeGreaterThanOrEqual(1);
      expect(output.json().find((l) => l.level === 'ERROR')).toMatchObject({
        message: expect.stringMatching(/dead-letter send failed/),
        error: expect.stringMatching(/^AbortError/),
      });
      sqs.destroy();
    } finally {
      await stuck.close();
    }
  });

  it('dead-letter sends after Dfns work that used all but the margin are still aborted before the deadline', async () => {
    const stuck = await startHungServer();
    try {
      const { SQSClient } = await import('@aws-sdk/client-sqs');
      const sqs = new SQSClient({ endpoint: stuck.url, requestHandler: { requestTimeout: 25_000 }, maxAttempts: 1 });
      const hung = world.sandbox.addPat().tokenId;
      world.sandbox.injectFault({ route: 'deactivate', tokenId: hung, hang: true });
      // The real clock: the hung PUT holds the Dfns work until the margin, then the dead letter of m2 is sent.
      const handler = world.handler(
        {
          DEADLINE_MARGIN_MS: '1000',
          DFNS_REQUEST_TIMEOUT_MS: '60000',
          DEAD_LETTER_QUEUE_URL: `${stuck.url}/123456789012/dlq`,
        },
        { sqs },
      );
      const invocationMs = 2_500;
      const started = performance.now();
      const response = await handler(
        [
          { messageId: 'm1', body: { tokenIds: [hung] } },
          { messageId: 'm2', body: { tokenIds: ['junk'] } },
        ],
        invocationMs,
      );
      // A correctness bound, not a speed one: an answer after the deadline is an invocation Lambda kills.
      expect(performance.now() - started).toBeLessThan(invocationMs);
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }] });
      sqs.destroy();
    } finally {
      await stuck.close();
    }
  });

  it('a stuck Secrets Manager cannot hold it either: the fetch is aborted at the deadline, the record retried', async () => {
    const stuck = await startHungServer();
    try {
      const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
      const secretsManager = new SecretsManagerClient({
        endpoint: stuck.url,
        requestHandler: { requestTimeout: 25_000 },
        maxAttempts: 1,
      });
      const { tokenId } = world.sandbox.addPat();
      const handler = world.handler({ DEADLINE_MARGIN_MS: '1500' }, { clock, secretsManager });
      const response = await handler([{ messageId: 'm1', body: { tokenIds: [tokenId] } }], 2_000);
      expect(response).toEqual(RETRY);
      expect(output.audit()).toEqual([
        expect.objectContaining({
          outcome: 'failed',
          detail: expect.stringMatching(/deadline came while loading the credential/),
        }),
      ]);
      expect(stuck.accepted).toBeGreaterThanOrEqual(1);
      secretsManager.destroy();
    } finally {
      await stuck.close();
    }
  });

  it('does not start a backoff that would end after the deadline', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'init', tokenId, respond: dfnsError(503, 'busy', { 'retry-after': '10' }) });
    const handler = world.handler({ DEADLINE_MARGIN_MS: '1000' }, { clock });
    const response = await handler([{ messageId: 'm1', body: { tokenIds: [tokenId] } }], 8_000);
    expect(response).toEqual(RETRY);
    expect(clock.sleeps).toEqual([]);
    expect(output.audit()[0]).toMatchObject({
      outcome: 'failed',
      detail: expect.stringMatching(/would not finish before the invocation deadline/),
    });
  });
});

describe('the last receive (MAX_RECEIVE_COUNT)', () => {
  it('a record still failing transiently on its last receive is dead-lettered with its last reasons', async () => {
    const { tokenId } = world.sandbox.addPat();
    const unknown = newTokenId();
    world.sandbox.injectFault({ route: 'init', tokenId, times: 3, respond: dfnsError(503, 'busy') });
    const handler = world.handler({ MAX_RECEIVE_COUNT: '4' }, { clock });
    const response = await handler([
      { messageId: 'm1', body: { tokenIds: [tokenId, unknown], incidentId: 'INC-L' }, receiveCount: 4 },
    ]);
    expect(response).toEqual(DONE);
    expect(await world.sqs.drainDeadLetters()).toEqual([
      {
        body: {
          tokenIds: [tokenId, unknown],
          incidentId: 'INC-L',
          failures: [
            { tokenId, outcome: 'failed', detail: expect.stringMatching(/HTTP 503.*\(last receive: 4 of 4\)/) },
            { tokenId: unknown, outcome: 'not_found', detail: expect.stringMatching(/404/) },
          ],
          sourceMessageId: 'm1',
          ...SENT, // who sent it and when, on every dead letter
        },
        attributes: { outcome: 'mixed', sourceMessageId: 'm1' },
      },
    ]);
  });

  it('before the last receive the same record is retried, nothing dead-lettered', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'init', tokenId, times: 3, respond: dfnsError(503, 'busy') });
    const { response, dead } = await revoke(tokenId, { MAX_RECEIVE_COUNT: '4' }, 3);
    expect(response).toEqual(RETRY);
    expect(dead).toEqual([]);
  });

  it('a configuration fault is never dead-lettered, not even on the last receive (the redrive policy moves it)', async () => {
    world.secrets.injectFault({ type: 'AccessDeniedException' });
    const { tokenId } = world.sandbox.addPat();
    const { response, dead } = await revoke(tokenId, { MAX_RECEIVE_COUNT: '3' }, 3);
    expect(response).toEqual(RETRY);
    expect(dead).toEqual([]);
  });

  it('a missing or garbage receive count is a first delivery, with a warning', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'init', tokenId, times: 3, respond: dfnsError(503, 'busy') });
    const { response, dead } = await revoke(tokenId, { MAX_RECEIVE_COUNT: '3' }, Number.NaN);
    expect(response).toEqual(RETRY);
    expect(dead).toEqual([]);
    expect(output.json().find((l) => l.level === 'WARN')).toMatchObject({
      message: expect.stringMatching(/ApproximateReceiveCount/),
    });
  });

  it('if that dead-letter send fails, the record is retried (the redrive policy still catches it)', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({ route: 'init', tokenId, times: 3, respond: dfnsError(503, 'busy') });
    const handler = world.handler(
      { MAX_RECEIVE_COUNT: '2', DEAD_LETTER_QUEUE_URL: `${world.sqs.deadLetterQueueUrl}-gone` },
      { clock },
    );
    const response = await handler([{ messageId: 'm1', body: { tokenIds: [tokenId] }, receiveCount: 2 }]);
    expect(response).toEqual(RETRY);
  });
});

describe('idempotency without a table', () => {
  it('a redelivered record whose token was switched off earlier ends deactivated, not in error', async () => {
    const { tokenId } = world.sandbox.addPat();
    // The PUT is done every time but the client never sees the answer: the record is retried.
    world.sandbox.injectFault({ route: 'deactivate', tokenId, times: 3, reset: true, afterProcessing: true });
    const first = await revoke(tokenId);
    expect(first.response).toEqual(RETRY);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    output.stop();
    output = captureOutput();
    const again = await revoke(tokenId, {}, 2);
    expect(again.response).toEqual(DONE);
    expect(again.audit.map((l) => l.outcome)).toEqual(['deactivated']);
    expect(again.dead).toEqual([]);
  });
});

describe('nothing resumes after the handler returns', () => {
  /** The token an init or PUT request is for (every new attempt starts with an init). */
  const tokenOf = (request: { route: string; path: string; body: string }) =>
    /to-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{14,16}/.exec(request.route === 'init' ? request.body : request.path)?.[0];
  const count = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;
  const INVOCATIONS = 6;

  it('many warm invocations cut short by the deadline: no Dfns request starts later, no rejection is unhandled, nothing piles up', async () => {
    // An unhandled rejection fails this test by itself: Jest reports it (a process listener here would see nothing).
    {
      // The real clock: backoffs, 429 pauses, budget waits and hangs really wait, and the deadline really comes.
      // A small budget (5 tokens per one-second window) shared by the warm invocations keeps reservations waiting.
      const handler = world.handler({
        DFNS_REQUEST_TIMEOUT_MS: '300',
        MAX_CONCURRENCY: '4',
        DFNS_REQUESTS_PER_MINUTE: '900',
        DFNS_BUDGET_WINDOW_SECONDS: '1',
      });
      const returnedAt: number[] = [];
      const tokensOf: string[][] = [];
      let afterThird = { timers: 0, sockets: 0 };
      for (let i = 0; i < INVOCATIONS; i += 1) {
        const [slow, busy, hung, plain, limited] = world.sandbox.seedPats(5) as [
          string,
          string,
          string,
          string,
          string,
        ];
        // The organisation's limit: a 429 pauses every flow of the container (floored to 100 ms).
        world.sandbox.injectFault({
          route: 'action',
          tokenId: limited,
          times: 20,
          respond: dfnsError(429, 'Too Many Requests', { 'retry-after': '0' }),
        });
        world.sandbox.injectFault({
          route: 'init',
          tokenId: busy,
          times: 20,
          respond: dfnsError(503, 'busy', { 'retry-after': '0' }),
        });
        world.sandbox.injectFault({ route: 'deactivate', tokenId: hung, hang: true });
        world.sandbox.injectFault({ route: 'action', tokenId: slow, times: 20, delayMs: 250 });
        tokensOf.push([slow, busy, hung, plain, limited]);
        // 1.5 s before the margin: long enough for a reservation to wait for the next window.
        await handler([{ messageId: `m${i}`, body: { tokenIds: [limited, slow, busy, hung, plain] } }], 2_500);
        returnedAt.push(world.sandbox.requests.length);
        if (i === 2) afterThird = { timers: count('Timeout'), sockets: count('TCPSocketWrap') };
      }
      // Idle longer than the largest backoff injected (Retry-After 0 → 100 ms), the request timeout and the last
      // invocation's own deadline (its dead-letter send timer, which ends by itself).
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const late = world.sandbox.requests.flatMap((request, index) => {
        const invocation = tokensOf.findIndex((tokens) => tokens.includes(tokenOf(request) ?? ''));
        const started = request.route === 'init' || request.route === 'deactivate';
        return started && invocation >= 0 && index >= (returnedAt[invocation] as number)
          ? [`${request.route} for invocation ${invocation} after it returned`]
          : [];
      });
      expect(late).toEqual([]);
      expect(world.sandbox.requestsTo('init').length).toBeGreaterThan(INVOCATIONS); // real work was done and cut
      expect(output.metrics().some((m) => [m.DfnsThrottles].flat()[0] > 0)).toBe(true); // 429 pauses happened
      expect(output.metrics().some((m) => [m.BudgetWaitMs].flat()[0] > 0)).toBe(true); // and budget waits
      expect(count('Timeout')).toBeLessThanOrEqual(afterThird.timers);
      expect(count('TCPSocketWrap')).toBeLessThanOrEqual(Math.max(afterThird.sockets, 4 + 2));
    }
  }, 60_000);
});

describe('a credId holding the private key (fields mixed up by hand)', () => {
  it('is a configuration fault naming credId: every record retried, no key material anywhere', async () => {
    const { tokenId } = world.sandbox.addPat();
    const mixedUp = { ...world.secret, credId: world.secret.privateKey };
    world.secrets.setSecret(SECRET_ID, JSON.stringify(mixedUp));
    const { response, audit, dead } = await revoke(tokenId);
    expect(response).toEqual(RETRY);
    expect(dead).toEqual([]);
    expect(audit[0]).toMatchObject({
      outcome: 'failed',
      detail: expect.stringMatching(/credId must be a Dfns credential ID/),
    });
    expect(output.text()).not.toContain(world.secret.privateKey.split('\n')[1]!.slice(0, 16));
    expect(world.sandbox.requestCount).toBe(0);
  });

  it('a credId the challenge does not allow is named by its first characters only', async () => {
    const { tokenId } = world.sandbox.addPat();
    const other = { ...world.secret, credId: 'Zm9yZWlnbi1jcmVkZW50aWFsLWlkLTEyMzQ1Njc4OTA' };
    world.secrets.setSecret(SECRET_ID, JSON.stringify(other));
    const { audit } = await revoke(tokenId);
    expect(audit[0]!.detail).toMatch(/credId Zm9yZWln… is not among/);
    expect(output.text()).not.toContain(other.credId);
  });
});

describe('errors are described, never as {}', () => {
  it('a dead-letter send rejected with a non-Error: the ERROR line says what was thrown', async () => {
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    const sqs = new SQSClient({});
    sqs.middlewareStack.add(
      () => async () => {
        throw { reason: 'throttled by a proxy', retryable: true };
      },
      { step: 'initialize', name: 'throwsAPlainObject' },
    );
    const handler = world.handler({}, { clock, sqs });
    const response = await handler([{ messageId: 'm1', body: { tokenIds: ['junk'] } }]);
    expect(response).toEqual(RETRY);
    const problem = output.json().find((l) => l.level === 'ERROR');
    expect(problem).toMatchObject({
      message: expect.stringMatching(/dead-letter send failed/),
      error: 'a thrown Object: {"reason":"throttled by a proxy","retryable":true}',
    });
    sqs.destroy();
  });

  it("Dfns' error id reaches the audit line and the dead-letter detail (what Dfns support asks for)", async () => {
    const { tokenId } = world.sandbox.addPat();
    world.sandbox.injectFault({
      route: 'deactivate',
      tokenId,
      respond: {
        status: 403,
        headers: { 'content-type': 'application/json' },
        body: { error: { id: 'er-4c1d9b2e', status: 403, message: 'Forbidden by policy', details: {} } },
      },
    });
    const response = await world.handler({}, { clock })([{ messageId: 'm1', body: { tokenIds: [tokenId] } }]);
    expect(response).toEqual(DONE);
    expect(output.audit()[0]).toMatchObject({
      outcome: 'rejected',
      detail: expect.stringMatching(/Dfns error id er-4c1d9b2e/),
    });
    const dead = await world.sqs.drainDeadLetters();
    expect(dead).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({
          failures: [expect.objectContaining({ detail: expect.stringMatching(/Dfns error id er-4c1d9b2e/) })],
        }),
      }),
    ]);
  });
});
