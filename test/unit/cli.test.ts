/**
 * The operator CLI's pieces that a process test cannot reach: the confirmation on a terminal, what a failed send
 * means (against real sockets), colour, and the progress lines.
 */
import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../tools/command-line.js';
import { sendFailure } from '../../tools/cli/aws.js';
import { confirmProd, NotConfirmed } from '../../tools/cli/confirm.js';
import type { CliIo } from '../../tools/cli/io.js';
import { table, writers } from '../../tools/cli/io.js';
import { startProgress } from '../../tools/cli/progress.js';

function io(overrides: Partial<CliIo> = {}): CliIo & { err: string[]; out: string[]; asked: string[] } {
  const err: string[] = [];
  const out: string[] = [];
  const asked: string[] = [];
  return {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: () => '',
    ask: async (question) => {
      asked.push(question);
      return 'yes';
    },
    canAsk: true,
    env: {},
    stdoutColours: false,
    interrupt: new AbortController().signal,
    err,
    out,
    asked,
    ...overrides,
  };
}

describe('confirmProd', () => {
  it('asks on a terminal and goes ahead on "yes"; anything else is not confirmed', async () => {
    const yes = io();
    await confirmProd(yes, 'move 3 messages', false);
    expect(yes.asked).toEqual(['move 3 messages? Type yes to go ahead: ']);
    const no = io({ ask: async () => 'y' });
    await expect(confirmProd(no, 'move 3 messages', false)).rejects.toThrow(NotConfirmed);
  });

  it('never asks with --yes; with no terminal and no --yes it is a usage error', async () => {
    const scripted = io({ ask: async () => Promise.reject(new Error('asked')) });
    await confirmProd(scripted, 'x', true);
    await expect(confirmProd(io({ canAsk: false }), 'x', false)).rejects.toThrow(UsageError);
  });
});

describe('sendFailure', () => {
  // Real sockets are driven in the process tests (test/integration/cli-enqueue.test.ts): under jest's VM the SDK
  // wraps Node's socket errors, which hides their code. These are the shapes a CLI process sees.
  it('an error SQS answered, or a connection never made, is "refused"', () => {
    expect(
      sendFailure(Object.assign(new Error('denied'), { $fault: 'client', $metadata: { httpStatusCode: 403 } })),
    ).toBe('refused');
    expect(sendFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }))).toBe(
      'refused',
    );
  });

  it('a reset, a timeout or anything unknown is "lost"', () => {
    expect(sendFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('lost');
    expect(sendFailure(Object.assign(new Error('request timed out'), { name: 'TimeoutError' }))).toBe('lost');
    expect(sendFailure('weird')).toBe('lost');
  });
});

describe('presentation', () => {
  it('colours only when stdout shows colour and NO_COLOR is not set', () => {
    expect(writers(io({ stdoutColours: true }), { output: 'table', quiet: false }).paint('ok', 'green')).toBe(
      '\u001b[32mok\u001b[39m',
    );
    expect(
      writers(io({ stdoutColours: true, env: { NO_COLOR: '1' } }), { output: 'table', quiet: false }).paint(
        'ok',
        'green',
      ),
    ).toBe('ok');
    expect(writers(io(), { output: 'table', quiet: false }).paint('ok', 'green')).toBe('ok');
  });

  it('aligns columns, numbers to the right, colour codes not counted', () => {
    expect(
      table(
        ['a', 'n'],
        [
          ['\u001b[32mxy\u001b[39m', 5],
          ['z', 100],
        ],
      ),
    ).toBe('a     n\n\u001b[32mxy\u001b[39m    5\nz   100\n');
  });

  it('off a terminal, progress is one line per tenth; nothing with --quiet', () => {
    const plain = io();
    const progress = startProgress(plain, { output: 'table', quiet: false }, 100, 'things');
    for (let done = 1; done <= 100; done += 1) progress.update(done);
    expect(plain.err).toHaveLength(10);
    expect(plain.err[9]).toMatch(/^100\/100 things \(100 %\)/);
    const quiet = io();
    startProgress(quiet, { output: 'table', quiet: true }, 100, 'things').update(100);
    expect(quiet.err).toEqual([]);
  });
});
