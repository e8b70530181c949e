/**
 * The source proof (CONTRACT section 2, `SOURCE_QUEUE_URLS`) against SQS' answers: per-entry `Failed` codes and
 * whole-call exceptions built as @aws-sdk/client-sqs builds them (a mocked client), then the same codes on the wire
 * through the real client against a loopback responder, so the mapping reads what the SDK really produces.
 * The end-to-end path through the handler runs against a loopback SQS in test/integration.
 */
import { createServer, type Server } from 'node:http';
import {
  BatchEntryIdsNotDistinct,
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchRequestEntry,
  EmptyBatchRequest,
  GetQueueAttributesCommand,
  InvalidAddress,
  InvalidBatchEntryId,
  InvalidSecurity,
  KmsAccessDenied,
  KmsDisabled,
  KmsInvalidKeyUsage,
  KmsInvalidState,
  KmsNotFound,
  KmsOptInRequired,
  KmsThrottled,
  MessageNotInflight,
  QueueDoesNotExist,
  ReceiptHandleIsInvalid,
  RequestThrottled,
  SQSClient,
  SQSServiceException,
  TooManyEntriesInBatchRequest,
  UnsupportedOperation,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import type { SourceQueue } from '../../functions/lib/config.js';
import {
  type ProofRecord,
  type ProofVerdict,
  type SourceProof,
  sqsSourceProof,
} from '../../functions/revoke-pats/source-proof.js';

const ACCOUNT = '111122223333';
const queue = (name: string, host = 'https://sqs.eu-west-1.amazonaws.com'): SourceQueue => ({
  url: `${host}/${ACCOUNT}/${name}`,
  account: ACCOUNT,
  name,
});
const REQUESTS = queue('pat-revoker-prod-requests');
const OTHER = queue('pat-revoker-prod-requests-eu');
const arnOf = (q: SourceQueue) => `arn:aws:sqs:eu-west-1:${q.account}:${q.name}`;

/** A receipt handle as SQS issues them (base64), unique per record so a leak of any one is found. */
const handleOf = (id: string) => `AQEB${Buffer.from(`receipt of ${id} `.repeat(8)).toString('base64')}`;
const record = (id: string, q: SourceQueue = REQUESTS): ProofRecord => ({
  messageId: id,
  receiptHandle: handleOf(id),
  eventSourceArn: arnOf(q),
});

// AWS' own messages, which quote the handle (ReceiptHandleIsInvalid: what local-aws-sqs and ElasticMQ answer, after
// SQS; InvalidParameterValue: mapbox/ecs-watchbot#135, aws/aws-sdk-java#1628).
const invalidMessage = (handle: string) => `The input receipt handle "${handle}" is not a valid receipt handle.`;
const goneMessage = (handle: string) =>
  `Value ${handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`;
const expiredMessage = (handle: string) =>
  `Value ${handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`;

/** What the fake SQS answers for one entry, by the record's messageId. */
type EntryAnswer = 'ok' | 'omitted' | { Code: string; Message?: (handle: string) => string; SenderFault?: boolean };

/** The mock of the client the last {@link fakeSqs} made (mocked per instance: the wire tests use a real one). */
let sqs: AwsClientStub<SQSClient>;

/**
 * A client whose queues have these VisibilityTimeouts (or a function giving it, which may throw) and which answers
 * each entry as `answers` says (by the record's messageId; every other entry succeeds).
 */
function fakeSqs(
  answers: Record<string, EntryAnswer> = {},
  timeouts: Record<string, string | (() => string | Promise<string>)> = {},
): SQSClient {
  const client = new SQSClient({});
  sqs = mockClient(client);
  const byHandle = new Map(Object.entries(answers).map(([id, answer]) => [handleOf(id), answer]));
  sqs.on(GetQueueAttributesCommand).callsFake(async (input) => {
    const timeout = timeouts[input.QueueUrl] ?? '900';
    return { Attributes: { VisibilityTimeout: typeof timeout === 'string' ? timeout : await timeout() } };
  });
  sqs.on(ChangeMessageVisibilityBatchCommand).callsFake(async (input) => {
    const Successful: Array<{ Id: string }> = [];
    const Failed: Array<{ Id: string; Code: string; SenderFault: boolean; Message?: string }> = [];
    for (const entry of input.Entries as ChangeMessageVisibilityBatchRequestEntry[]) {
      const answer = byHandle.get(entry.ReceiptHandle as string) ?? 'ok';
      if (answer === 'ok') Successful.push({ Id: entry.Id as string });
      else if (answer !== 'omitted') {
        Failed.push({
          Id: entry.Id as string,
          Code: answer.Code,
          SenderFault: answer.SenderFault ?? true,
          ...(answer.Message ? { Message: answer.Message(entry.ReceiptHandle as string) } : {}),
        });
      }
    }
    return { Successful, Failed };
  });
  return client;
}

const batchCalls = () => sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input);
const attributeCalls = () => sqs.commandCalls(GetQueueAttributesCommand).map((call) => call.args[0].input);
const live = () => new AbortController().signal;

/** The verdicts as plain objects, and a check that none shows a receipt handle or AWS' message. */
async function prove(proof: SourceProof, records: ProofRecord[], signal = live()) {
  const verdicts = await proof.prove(records, signal);
  const shown = JSON.stringify([...verdicts]);
  for (const { receiptHandle } of records) {
    if (typeof receiptHandle === 'string' && receiptHandle !== '') expect(shown).not.toContain(receiptHandle);
  }
  expect(shown).not.toMatch(/AQEB|Reason:|for parameter|input receipt handle/);
  return Object.fromEntries(verdicts) as Record<string, ProofVerdict & { detail?: string }>;
}
const verdictsOf = (result: Record<string, ProofVerdict>) =>
  Object.fromEntries(Object.entries(result).map(([id, v]) => [id, v.verdict]));

type Verdict = ProofVerdict['verdict'];
/** Rows of `[title, input, verdict]` as `[title, verdict, input]`, so a test's title shows the verdict. */
const titled = <T>(rows: Array<[string, T, Verdict]>) =>
  rows.map(([title, input, verdict]) => [title, verdict, input] as const);

describe('records SQS takes on their own queue', () => {
  it('are proven, the visibility set to the queue’s own VisibilityTimeout, read once per container', async () => {
    const proof = sqsSourceProof(fakeSqs({}, { [REQUESTS.url]: '137' }), [REQUESTS]);
    expect(verdictsOf(await prove(proof, [record('a'), record('b')]))).toEqual({ a: 'proven', b: 'proven' });
    expect(verdictsOf(await prove(proof, [record('c')]))).toEqual({ c: 'proven' });
    expect(attributeCalls()).toEqual([{ QueueUrl: REQUESTS.url, AttributeNames: ['VisibilityTimeout'] }]);
    expect(batchCalls()).toEqual([
      {
        QueueUrl: REQUESTS.url,
        Entries: [
          { Id: '0', ReceiptHandle: handleOf('a'), VisibilityTimeout: 137 },
          { Id: '1', ReceiptHandle: handleOf('b'), VisibilityTimeout: 137 },
        ],
      },
      { QueueUrl: REQUESTS.url, Entries: [{ Id: '0', ReceiptHandle: handleOf('c'), VisibilityTimeout: 137 }] },
    ]);
  });

  it('go 10 to a call (25 records: 3 calls), entry Ids that SQS accepts whatever the messageIds', async () => {
    const records = Array.from({ length: 25 }, (_, i) => record(`id with spaces & ünïcode ${i}`));
    const result = await prove(sqsSourceProof(fakeSqs(), [REQUESTS]), records);
    expect(Object.values(result).every((v) => v.verdict === 'proven')).toBe(true);
    expect(Object.keys(result)).toHaveLength(25);
    const calls = batchCalls();
    expect(calls.map((c) => c.Entries?.length)).toEqual([10, 10, 5]);
    for (const call of calls) {
      const ids = call.Entries?.map((e) => e.Id as string) ?? [];
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    }
    expect(calls.flatMap((c) => c.Entries?.map((e) => e.ReceiptHandle))).toEqual(records.map((r) => r.receiptHandle));
  });

  it('of two queues: each queue its own calls and its own VisibilityTimeout, each read once', async () => {
    const proof = sqsSourceProof(fakeSqs({}, { [REQUESTS.url]: '120', [OTHER.url]: '600' }), [REQUESTS, OTHER]);
    const records = [record('a'), record('b', OTHER), record('c'), record('d', OTHER)];
    expect(verdictsOf(await prove(proof, records))).toEqual({ a: 'proven', b: 'proven', c: 'proven', d: 'proven' });
    await prove(proof, [record('e'), record('f', OTHER)]);
    expect(attributeCalls().map((c) => c.QueueUrl)).toEqual([REQUESTS.url, OTHER.url]);
    const calls = batchCalls();
    expect(calls).toHaveLength(4);
    for (const call of calls) {
      const expected = call.QueueUrl === REQUESTS.url ? 120 : 600;
      expect(call.Entries?.every((e) => e.VisibilityTimeout === expected)).toBe(true);
    }
    expect(
      calls.filter((c) => c.QueueUrl === OTHER.url).flatMap((c) => c.Entries?.map((e) => e.ReceiptHandle)),
    ).toEqual([handleOf('b'), handleOf('d'), handleOf('f')]);
  });
});

describe('the calls', () => {
  /** The most ChangeMessageVisibilityBatch calls in flight at once while proving `count` records. */
  async function mostInFlight(count: number): Promise<number> {
    const client = fakeSqs();
    let inFlight = 0;
    let most = 0;
    sqs.on(ChangeMessageVisibilityBatchCommand).callsFake(async (input) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      return { Successful: input.Entries?.map((e: { Id?: string }) => ({ Id: e.Id as string })), Failed: [] };
    });
    const records = Array.from({ length: count }, (_, i) => record(`r${i}`, i % 2 ? OTHER : REQUESTS));
    const result = await prove(sqsSourceProof(client, [REQUESTS, OTHER]), records);
    expect(Object.values(result).every((v) => v.verdict === 'proven')).toBe(true);
    return most;
  }

  it('run at once, chunks and queues (30 records, 2 queues: 4 calls in flight together)', async () => {
    expect(await mostInFlight(30)).toBe(4);
  });

  it('at most 10 at once however large the batch (200 records: 20 calls)', async () => {
    expect(await mostInFlight(200)).toBe(10);
  });
});

describe('records refused before any call', () => {
  it.each([
    ['a queue not in SOURCE_QUEUE_URLS', { eventSourceArn: `arn:aws:sqs:eu-west-1:${ACCOUNT}:someone-elses` }],
    ['another account', { eventSourceArn: `arn:aws:sqs:eu-west-1:444455556666:${REQUESTS.name}` }],
    ['no eventSourceARN', { eventSourceArn: undefined }],
    ['a malformed eventSourceARN', { eventSourceArn: `arn:aws:sns:eu-west-1:${ACCOUNT}:${REQUESTS.name}` }],
    ['an eventSourceARN that is not a string', { eventSourceArn: 42 }],
    ['no receipt handle', { receiptHandle: undefined }],
    ['an empty receipt handle', { receiptHandle: '' }],
    ['a receipt handle that is not a string', { receiptHandle: { forged: true } }],
    ['a receipt handle with spaces', { receiptHandle: 'AQEB abc' }],
    ['a receipt handle of 8193 characters', { receiptHandle: 'A'.repeat(8193) }],
  ])('%s', async (_, change) => {
    const forged = { ...record('forged'), ...change } as unknown as ProofRecord;
    const result = await prove(sqsSourceProof(fakeSqs(), [REQUESTS]), [forged]);
    expect(result.forged?.verdict).toBe('refused');
    expect(attributeCalls()).toEqual([]);
    expect(batchCalls()).toEqual([]);
  });

  it('name what the event claimed, when it is shaped like a queue ARN, and never the handle', async () => {
    const elsewhere = { ...record('x'), eventSourceArn: `arn:aws:sqs:eu-west-1:${ACCOUNT}:someone-elses` };
    const result = await prove(sqsSourceProof(fakeSqs(), [REQUESTS]), [elsewhere, { messageId: 'y' }]);
    expect(result.x?.detail).toContain(`arn:aws:sqs:eu-west-1:${ACCOUNT}:someone-elses`);
    expect(result.y?.detail).toContain('a missing or malformed ARN');
  });

  it('do not hold up the proof of the others in the batch', async () => {
    const records = [record('good'), { ...record('forged'), eventSourceArn: 'arn:aws:sqs:eu-west-1:1:x' }];
    expect(verdictsOf(await prove(sqsSourceProof(fakeSqs(), [REQUESTS]), records))).toEqual({
      good: 'proven',
      forged: 'refused',
    });
    expect(batchCalls().flatMap((c) => c.Entries?.map((e) => e.ReceiptHandle))).toEqual([handleOf('good')]);
  });
});

describe("per-entry failures (ChangeMessageVisibilityBatch's Failed[])", () => {
  it.each(
    titled<EntryAnswer>([
      [
        'ReceiptHandleIsInvalid: a handle SQS never issued',
        { Code: 'ReceiptHandleIsInvalid', Message: invalidMessage },
        'refused',
      ],
      [
        'InvalidParameterValue "does not exist or is not available": deleted',
        { Code: 'InvalidParameterValue', Message: goneMessage },
        'stale',
      ],
      ['MessageNotInflight', { Code: 'MessageNotInflight' }, 'stale'],
      ['MessageNotInflight, as a query code', { Code: 'AWS.SimpleQueueService.MessageNotInflight' }, 'stale'],
      ['InvalidParameterValue for another reason', { Code: 'InvalidParameterValue', Message: expiredMessage }, 'retry'],
      ['InvalidParameterValue without a message', { Code: 'InvalidParameterValue' }, 'retry'],
      ['AccessDenied', { Code: 'AccessDenied' }, 'configFault'],
      ['a KMS error', { Code: 'KMS.AccessDeniedException' }, 'configFault'],
      ['an internal error', { Code: 'InternalError', SenderFault: false }, 'retry'],
      ['a code that quotes the handle', { Code: 'Weird "AQEB"', Message: invalidMessage }, 'retry'],
      ['neither in Successful nor in Failed', 'omitted', 'retry'],
    ]),
  )('%s → %s', async (_, expected, answer) => {
    const proof = sqsSourceProof(fakeSqs({ bad: answer }), [REQUESTS]);
    const result = await prove(proof, [record('before'), record('bad'), record('after')]);
    expect(verdictsOf(result)).toEqual({ before: 'proven', bad: expected, after: 'proven' });
    expect(result.bad?.detail).toContain(REQUESTS.name);
  });

  it('on a messageId given twice, the worse verdict stands (a forged copy cannot ride on a real one)', async () => {
    const proof = sqsSourceProof(fakeSqs({ copy: { Code: 'ReceiptHandleIsInvalid', Message: invalidMessage } }), [
      REQUESTS,
    ]);
    const real = record('m-1');
    const forged = { ...record('copy'), messageId: 'm-1' };
    expect(verdictsOf(await prove(proof, [real, forged]))).toEqual({ 'm-1': 'refused' });
    expect(verdictsOf(await prove(proof, [forged, real]))).toEqual({ 'm-1': 'refused' });
  });
});

/** A service exception built as the SDK builds one it does not model: base class, the code as its name and Code. */
const unmodelled = (name: string, status: number, message: string) =>
  Object.assign(new SQSServiceException({ name, $fault: status < 500 ? 'client' : 'server', $metadata: {}, message }), {
    Code: name,
    $metadata: { httpStatusCode: status },
  });
/** A modelled exception with the query code of its `x-amzn-query-error` header in `Code`, as the SDK sets it. */
const modelled = <E extends Error>(error: E, code: string, status = 400) =>
  Object.assign(error, { Code: code, $metadata: { httpStatusCode: status } });
const opts = (message: string) => ({ message, $metadata: {} });
/** SQS' answer for a queue that does not exist, or that the caller may not see (troubleshooting-api-errors). */
const noQueue = () =>
  modelled(
    new QueueDoesNotExist(opts('The specified queue does not exist or you do not have access to it.')),
    'AWS.SimpleQueueService.NonExistentQueue',
  );
type ModelledError = new (options: ReturnType<typeof opts>) => Error;
/** A row of the whole-call table: a modelled exception of the SDK, with its query code. */
const sdkError = (Shape: ModelledError, code: string, verdict: Verdict): [string, () => unknown, Verdict] => [
  Shape.name,
  () => modelled(new Shape(opts(`${Shape.name} said no`)), code),
  verdict,
];

describe('whole-call errors', () => {
  const handle = handleOf('a');
  it.each(
    titled<() => unknown>([
      [
        'ReceiptHandleIsInvalid',
        () => modelled(new ReceiptHandleIsInvalid(opts(invalidMessage(handle))), 'ReceiptHandleIsInvalid', 404),
        'refused',
      ],
      [
        'MessageNotInflight',
        () => modelled(new MessageNotInflight(opts('')), 'AWS.SimpleQueueService.MessageNotInflight'),
        'stale',
      ],
      [
        'InvalidParameterValue "not available"',
        () => unmodelled('InvalidParameterValue', 400, goneMessage(handle)),
        'stale',
      ],
      [
        'InvalidParameterValue, another reason',
        () => unmodelled('InvalidParameterValue', 400, expiredMessage(handle)),
        'retry',
      ],
      [
        'AccessDenied',
        () =>
          unmodelled(
            'AccessDenied',
            403,
            `User: arn:aws:sts::${ACCOUNT}:assumed-role/r/s is not authorized to perform: sqs:changemessagevisibility`,
          ),
        'configFault',
      ],
      [
        'AccessDeniedException',
        () => unmodelled('AccessDeniedException', 400, 'You do not have sufficient access to perform this action.'),
        'configFault',
      ],
      ['QueueDoesNotExist', noQueue, 'configFault'],
      [
        'QueueDoesNotExist without its query code',
        () => new QueueDoesNotExist(opts('The specified queue does not exist.')),
        'configFault',
      ],
      // Every KMS error, KmsThrottled included: the contract makes "a KMS error" a configuration fault.
      ...[
        [KmsAccessDenied, 'KMS.AccessDeniedException'],
        [KmsDisabled, 'KMS.DisabledException'],
        [KmsInvalidKeyUsage, 'KMS.InvalidKeyUsageException'],
        [KmsInvalidState, 'KMS.InvalidStateException'],
        [KmsNotFound, 'KMS.NotFoundException'],
        [KmsOptInRequired, 'KMS.OptInRequired'],
        [KmsThrottled, 'KMS.ThrottlingException'],
      ].map(([Kms, code]) => sdkError(Kms as ModelledError, code as string, 'configFault')),
      [
        'InvalidAddress',
        () => modelled(new InvalidAddress(opts('The address is not valid.')), 'InvalidAddress', 404),
        'configFault',
      ],
      [
        'InvalidSecurity',
        () => modelled(new InvalidSecurity(opts('not HTTPS')), 'InvalidSecurity', 403),
        'configFault',
      ],
      [
        'RequestThrottled',
        () => modelled(new RequestThrottled(opts('Rate exceeded')), 'RequestThrottled', 403),
        'retry',
      ],
      ['ThrottlingException', () => unmodelled('ThrottlingException', 400, 'Rate exceeded'), 'retry'],
      ['InternalFailure (500)', () => unmodelled('InternalFailure', 500, 'We encountered an internal error.'), 'retry'],
      ['ServiceUnavailable (503)', () => unmodelled('ServiceUnavailable', 503, 'Service Unavailable'), 'retry'],
      // A malformed batch is our bug, not the record's: retried.
      ...[
        BatchEntryIdsNotDistinct,
        TooManyEntriesInBatchRequest,
        EmptyBatchRequest,
        InvalidBatchEntryId,
        UnsupportedOperation,
      ].map((Shape) => sdkError(Shape as ModelledError, `AWS.SimpleQueueService.${Shape.name}`, 'retry')),
      [
        'a connection reset',
        () => Object.assign(new Error(`socket hang up ${handle}`), { code: 'ECONNRESET' }),
        'retry',
      ],
      ['a request timeout', () => Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'retry'],
      ['something thrown that is not an Error', () => `a string with ${handle}`, 'retry'],
    ]),
  )('%s → %s, for every record of the call', async (_, expected, error) => {
    const client = fakeSqs();
    sqs.on(ChangeMessageVisibilityBatchCommand).rejects(error() as Error);
    const proof = sqsSourceProof(client, [REQUESTS]);
    const result = await prove(proof, [record('a'), record('b')]);
    expect(verdictsOf(result)).toEqual({ a: expected, b: expected });
    expect(result.a?.detail).toContain(`ChangeMessageVisibilityBatch ${REQUESTS.name}`);
  });

  it('name the code and the HTTP status in the detail, not the message', async () => {
    const client = fakeSqs();
    sqs.on(ChangeMessageVisibilityBatchCommand).rejects(noQueue());
    const result = await prove(sqsSourceProof(client, [REQUESTS]), [record('a')]);
    expect(result.a?.detail).toMatch(/QueueDoesNotExist.*AWS\.SimpleQueueService\.NonExistentQueue.*HTTP 400/);
    expect(result.a?.detail).not.toContain('The specified queue');
  });
});

describe("reading the queue's VisibilityTimeout", () => {
  it.each(
    titled<() => unknown>([
      [
        'AccessDenied',
        () => unmodelled('AccessDenied', 403, 'not authorized to perform: sqs:getqueueattributes'),
        'configFault',
      ],
      ['QueueDoesNotExist: SOURCE_QUEUE_URLS names no queue the role can see', noQueue, 'configFault'],
      ['a KMS error', () => modelled(new KmsDisabled(opts('disabled')), 'KMS.DisabledException'), 'configFault'],
      [
        'RequestThrottled',
        () => modelled(new RequestThrottled(opts('Rate exceeded')), 'RequestThrottled', 403),
        'retry',
      ],
      ['a 5xx', () => unmodelled('InternalFailure', 500, 'internal'), 'retry'],
      [
        'ReceiptHandleIsInvalid (meaningless here: no handle was used yet)',
        () => modelled(new ReceiptHandleIsInvalid(opts('?')), 'ReceiptHandleIsInvalid'),
        'retry',
      ],
    ]),
  )(
    'failing with %s: that queue’s records are %s, no handle is used, the failure is not kept',
    async (_, expected, error) => {
      let failures = 0;
      const failOnce = () => {
        failures += 1;
        if (failures === 1) throw error();
        return '900';
      };
      const proof = sqsSourceProof(fakeSqs({}, { [REQUESTS.url]: failOnce, [OTHER.url]: '300' }), [REQUESTS, OTHER]);
      const result = await prove(proof, [record('a'), record('b', OTHER)]);
      expect(verdictsOf(result)).toEqual({ a: expected, b: 'proven' });
      expect(result.a?.detail).toContain(`GetQueueAttributes ${REQUESTS.name}`);
      expect(batchCalls().map((c) => c.QueueUrl)).toEqual([OTHER.url]);
      // the next invocation asks again, and then proves
      expect(verdictsOf(await prove(proof, [record('c')]))).toEqual({ c: 'proven' });
      expect(attributeCalls().filter((c) => c.QueueUrl === REQUESTS.url)).toHaveLength(2);
    },
  );

  it.each([undefined, '', 'abc', '-1', '43201', '1e3'])('answering VisibilityTimeout %p: retry', async (value) => {
    const client = fakeSqs();
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: value === undefined ? {} : { VisibilityTimeout: value } });
    const result = await prove(sqsSourceProof(client, [REQUESTS]), [record('a')]);
    expect(result.a).toEqual({ verdict: 'retry', detail: expect.stringContaining('VisibilityTimeout') });
    expect(batchCalls()).toEqual([]);
  });

  it('uses 0 and 43200 as given', async () => {
    for (const value of ['0', '43200']) {
      const result = await prove(sqsSourceProof(fakeSqs({}, { [REQUESTS.url]: value }), [REQUESTS]), [record('a')]);
      expect(result.a?.verdict).toBe('proven');
      expect(batchCalls()[0]?.Entries?.[0]?.VisibilityTimeout).toBe(Number(value));
    }
  });
});

describe('the deadline', () => {
  it('ends a call SQS does not answer: its records are retry, the others keep their verdicts', async () => {
    const client = fakeSqs();
    let calls = 0;
    sqs.on(ChangeMessageVisibilityBatchCommand).callsFake(async (input) => {
      calls += 1;
      if (calls === 2) return new Promise(() => {}); // hangs, and this mock ignores the abort signal
      return { Successful: input.Entries?.map((e: { Id?: string }) => ({ Id: e.Id as string })), Failed: [] };
    });
    const controller = new AbortController();
    const records = Array.from({ length: 15 }, (_, i) => record(`r${i}`));
    const pending = prove(sqsSourceProof(client, [REQUESTS]), records, controller.signal);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    const result = await pending;
    expect(records.slice(0, 10).map((r) => result[r.messageId]?.verdict)).toEqual(Array(10).fill('proven'));
    for (const r of records.slice(10)) {
      expect(result[r.messageId]).toEqual({ verdict: 'retry', detail: expect.stringContaining('deadline') });
    }
  });

  it('ends a hung GetQueueAttributes, which the next invocation asks again', async () => {
    // the first read hangs (and this mock ignores the abort signal); later reads answer
    let reads = 0;
    const hangOnce = () => {
      reads += 1;
      return reads === 1 ? new Promise<string>(() => {}) : '900';
    };
    const proof = sqsSourceProof(fakeSqs({}, { [REQUESTS.url]: hangOnce }), [REQUESTS]);
    const controller = new AbortController();
    const pending = prove(proof, [record('a')], controller.signal);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    expect((await pending).a).toEqual({ verdict: 'retry', detail: expect.stringContaining('deadline') });
    expect(verdictsOf(await prove(proof, [record('b')]))).toEqual({ b: 'proven' });
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(2);
  });

  it('already past: no ChangeMessageVisibilityBatch call, every record retry', async () => {
    const proof = sqsSourceProof(fakeSqs(), [REQUESTS]);
    await prove(proof, [record('warm')]);
    sqs.resetHistory();
    const result = await prove(proof, [record('a'), record('b')], AbortSignal.abort());
    expect(verdictsOf(result)).toEqual({ a: 'retry', b: 'retry' });
    expect(batchCalls()).toEqual([]);
  });

  it("the client's own AbortError is the deadline too", async () => {
    const client = fakeSqs();
    sqs
      .on(ChangeMessageVisibilityBatchCommand)
      .rejects(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
    const result = await prove(sqsSourceProof(client, [REQUESTS]), [record('a')]);
    expect(result.a).toEqual({ verdict: 'retry', detail: expect.stringContaining('deadline') });
  });
});

/**
 * The same codes on the wire (AWS JSON 1.0 with the `x-amzn-query-error` header SQS sends), through the real client:
 * whatever shape the SDK gives them (modelled class or base exception, `name` and `Code`), the verdict holds.
 */
describe('through the real client, from the wire', () => {
  let server: Server;
  let host: string;
  let next: { status: number; queryError?: string; body: Record<string, unknown> };
  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const target = request.headers['x-amz-target'];
        if (target === 'AmazonSQS.GetQueueAttributes') {
          response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
          response.end(JSON.stringify({ Attributes: { VisibilityTimeout: '60' } }));
          return;
        }
        response.writeHead(next.status, {
          'content-type': 'application/x-amz-json-1.0',
          ...(next.queryError ? { 'x-amzn-query-error': next.queryError } : {}),
        });
        response.end(JSON.stringify(next.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const handle = handleOf('a');
  it.each(
    titled<typeof next>([
      [
        'Failed[] ReceiptHandleIsInvalid',
        {
          status: 200,
          body: {
            Successful: [],
            Failed: [{ Id: '0', Code: 'ReceiptHandleIsInvalid', SenderFault: true, Message: invalidMessage(handle) }],
          },
        },
        'refused',
      ],
      [
        'Failed[] InvalidParameterValue, not available',
        {
          status: 200,
          body: {
            Successful: [],
            Failed: [{ Id: '0', Code: 'InvalidParameterValue', SenderFault: true, Message: goneMessage(handle) }],
          },
        },
        'stale',
      ],
      ['Successful', { status: 200, body: { Successful: [{ Id: '0' }], Failed: [] } }, 'proven'],
      [
        'QueueDoesNotExist',
        {
          status: 400,
          queryError: 'AWS.SimpleQueueService.NonExistentQueue;Sender',
          body: { __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'The specified queue does not exist.' },
        },
        'configFault',
      ],
      [
        'AccessDenied',
        {
          status: 403,
          queryError: 'AccessDenied;Sender',
          body: { __type: 'com.amazon.coral.service#AccessDeniedException', Message: 'not authorized' },
        },
        'configFault',
      ],
      [
        'KMS.AccessDeniedException',
        {
          status: 400,
          queryError: 'KMS.AccessDeniedException;Sender',
          body: { __type: 'com.amazonaws.sqs#KmsAccessDenied', message: 'denied' },
        },
        'configFault',
      ],
      [
        'ReceiptHandleIsInvalid',
        {
          status: 404,
          queryError: 'ReceiptHandleIsInvalid;Sender',
          body: { __type: 'com.amazonaws.sqs#ReceiptHandleIsInvalid', message: invalidMessage(handle) },
        },
        'refused',
      ],
      [
        'MessageNotInflight',
        {
          status: 400,
          queryError: 'AWS.SimpleQueueService.MessageNotInflight;Sender',
          body: { __type: 'com.amazonaws.sqs#MessageNotInflight' },
        },
        'stale',
      ],
      [
        'InvalidParameterValue, not available',
        {
          status: 400,
          queryError: 'InvalidParameterValue;Sender',
          body: { __type: 'com.amazon.coral.validate#ValidationException', message: goneMessage(handle) },
        },
        'stale',
      ],
      [
        'RequestThrottled',
        {
          status: 403,
          queryError: 'RequestThrottled;Sender',
          body: { __type: 'com.amazonaws.sqs#RequestThrottled', message: 'Rate exceeded' },
        },
        'retry',
      ],
      ['a 500 without a code', { status: 500, body: {} }, 'retry'],
    ]),
  )('%s → %s', async (_, expected, answer) => {
    next = answer;
    const client = new SQSClient({ maxAttempts: 1, endpoint: host });
    try {
      const q = queue(`wire-${expected}`, host);
      const result = await prove(sqsSourceProof(client, [q]), [record('a', q)]);
      expect(result.a?.verdict).toBe(expected);
    } finally {
      client.destroy();
    }
  });
});
