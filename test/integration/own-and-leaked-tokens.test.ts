/**
 * Two rules that need the credential before any token is decided (CONTRACT sections 3, 4 and 5), through the real
 * handler against the sandbox: the function never switches off the token it authenticates with, and a leaked access
 * token sent where a token ID belongs is revoked when it is of our organisation and otherwise refused, shown only as
 * a fingerprint everywhere.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { dfnsId } from '../../tools/sandbox/ids.js';
import type { Captured } from '../support/stdout.js';
import { useWorld, type World } from '../support/world.js';

let world: World;
let output: Captured;
useWorld({ world: (w) => (world = w), output: (o) => (output = o) });

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const outcomes = () => output.audit().map((l) => [l.tokenId, l.outcome]);
/** Everything the test could see of the function: its output and its dead letters. */
const seen = async () => `${output.text()}\n${JSON.stringify(await world.sqs.drainDeadLetters())}`;

describe('never the revoker itself (CONTRACT section 3)', () => {
  it('a request naming the token the function authenticates with ends protected, and that token stays on', async () => {
    const own = world.sandbox.tokenIdOf(world.secret.authToken);
    const { tokenId: other } = world.sandbox.addPat();
    const response = await world.handler()([
      { messageId: 'm1', body: { tokenIds: [own, other], incidentId: 'INC-O' } },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(outcomes()).toEqual([
      [own, 'protected'],
      [other, 'deactivated'],
    ]);
    expect(output.audit()[0]!.detail).toMatch(/the token this function authenticates with/);
    expect(world.sandbox.isActive(own)).toBe(true);
    expect(world.sandbox.requestsTo('deactivate').filter((r) => r.path.includes(own))).toEqual([]);
    const [dead] = await world.sqs.drainDeadLetters();
    expect(dead!.body).toMatchObject({ tokenIds: [own], failures: [{ tokenId: own, outcome: 'protected' }] });
  });

  it.each([
    ['a function-wide dry run', { DRY_RUN: 'true' }, {}],
    ['a dry-run request', {}, { dryRun: true }],
  ])('%s still says protected, not dry_run (the credential is loaded for it)', async (_, env, request) => {
    const own = world.sandbox.tokenIdOf(world.secret.authToken);
    await world.handler(env)([{ messageId: 'm1', body: { tokenId: own, ...request } }]);
    expect(outcomes()).toEqual([[own, 'protected']]);
    expect(world.secrets.calls).toHaveLength(1);
  });

  it('a dry run is retried, not decided, while the secret cannot be read', async () => {
    const { tokenId } = world.sandbox.addPat();
    world.secrets.injectFault({ type: 'ThrottlingException', times: 10 });
    const response = await world.handler({ DRY_RUN: 'true' })([{ messageId: 'm1', body: { tokenId } }]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(outcomes()).toEqual([[tokenId, 'failed']]);
    expect(await world.sqs.drainDeadLetters()).toEqual([]);
  });

  it('recomputed after a refetch: a rotated secret protects its own token, even when asked for in that batch', async () => {
    const handler = world.handler();
    const first = world.sandbox.addPat().tokenId;
    await handler([{ messageId: 'm1', body: { tokenId: first } }]); // the container caches the first credential
    const old = world.secret;
    const rotated = world.useAccount('ed25519'); // the secret now holds another service account
    world.sandbox.revokeAuthToken(old.authToken); // the cached one answers 401: the function fetches the secret again
    const own = world.sandbox.tokenIdOf(rotated.authToken);
    const { tokenId: other } = world.sandbox.addPat();

    await handler([{ messageId: 'm2', body: { tokenIds: [own, other] } }]);
    expect(outcomes().slice(1)).toEqual([
      [own, 'protected'],
      [other, 'deactivated'],
    ]);
    expect(world.sandbox.isActive(own)).toBe(true);
    expect(world.secrets.calls).toHaveLength(2);
  });
});

describe('a leaked access token where a token ID belongs (CONTRACT section 4)', () => {
  it('one of our organisation is revoked by the token ID it names, and recorded only as jwt sha256:<hex>', async () => {
    const pat = world.sandbox.addPat();
    const response = await world.handler()([
      { messageId: 'm1', body: { tokenIds: [pat.accessToken], incidentId: 'INC-L', reason: 'found in a repo' } },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(world.sandbox.isActive(pat.tokenId)).toBe(false);
    expect(output.audit()).toEqual([
      expect.objectContaining({
        tokenId: pat.tokenId,
        receivedAs: `jwt sha256:${sha256(pat.accessToken)}`,
        outcome: 'deactivated',
        incidentId: 'INC-L',
      }),
    ]);
    expect(await seen()).not.toContain(pat.accessToken.split('.')[1]);
  });

  it('in plain text too, and with its own ID beside it: one token, one outcome', async () => {
    const pat = world.sandbox.addPat();
    await world.handler()([{ messageId: 'm1', body: `${pat.accessToken}\n${pat.tokenId}` }]);
    expect(outcomes()).toEqual([[pat.tokenId, 'deactivated']]);
    expect(world.sandbox.requestsTo('deactivate')).toHaveLength(1);
  });

  it('one that Dfns does not know is dead-lettered by its ID, with the fingerprint beside it', async () => {
    const leaked = world.sandbox.accessTokenFor(); // of our organisation, naming a token the sandbox never issued
    const named = JSON.parse(Buffer.from(leaked.split('.')[1]!, 'base64url').toString()).jti as string;
    await world.handler()([{ messageId: 'm1', body: { tokenIds: [leaked] } }]);
    const [dead] = await world.sqs.drainDeadLetters();
    expect(dead!.body).toEqual(
      expect.objectContaining({
        tokenIds: [named],
        failures: [
          {
            tokenId: named,
            receivedAs: `jwt sha256:${sha256(leaked)}`,
            outcome: 'not_found',
            detail: expect.any(String),
          },
        ],
      }),
    );
    expect(dead!.raw).not.toContain(leaked.split('.')[2]);
  });

  it.each([
    [
      'an access token of another organisation',
      (w: World) => w.sandbox.accessTokenFor({ orgId: dfnsId('or', 16) }),
      /not of this organisation/,
    ],
    [
      'a login token (it names no token ID)',
      (w: World) => w.sandbox.accessTokenFor({ tokenKind: 'Token' }),
      /naming no token ID/,
    ],
    [
      'a private key',
      () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      /PEM block/,
    ],
    ['a long raw value', () => createHash('sha512').update(String(Math.random())).digest('hex'), /possibly a secret/],
  ])('%s is invalid and shown only as its start and fingerprint, in logs and dead letters', async (_, make, why) => {
    const value = make(world).trim();
    const { tokenId } = world.sandbox.addPat();
    const response = await world.handler()([{ messageId: 'm1', body: { tokenIds: [tokenId, value] } }]);
    expect(response).toEqual({ batchItemFailures: [] });
    const shown = `${[...value].slice(0, 8).join('').replace(/\s/g, '?')}…sha256:${sha256(value)}`;
    expect(outcomes()).toEqual([
      [tokenId, 'deactivated'],
      [shown, 'invalid'],
    ]);
    expect(output.audit()[1]!.detail).toMatch(why);
    const [dead] = await world.sqs.drainDeadLetters();
    expect(dead!.body).toMatchObject({ tokenIds: [], failures: [{ tokenId: shown, outcome: 'invalid' }] });
    const everything = `${output.text()}\n${dead!.raw}`;
    expect(everything).not.toContain(value.slice(8, 40));
  });

  it('a refused body holding a token keeps only its fingerprint in the dead letter', async () => {
    const leaked = world.sandbox.addPat().accessToken;
    const body = `{"tokenIds": ["${leaked}"], "reason": "json cut short`;
    await world.handler()([{ messageId: 'm1', body }]);
    const [dead] = await world.sqs.drainDeadLetters();
    expect((dead!.body as { body: string }).body).toBe(
      body.replace(leaked, `${leaked.slice(0, 8)}…sha256:${sha256(leaked)}`),
    );
    expect(dead!.raw).not.toContain(leaked.split('.')[1]);
  });

  it('a token pasted into the reason is shown only as its fingerprint, with a warning', async () => {
    const pat = world.sandbox.addPat();
    await world.handler()([{ messageId: 'm1', body: { tokenId: pat.tokenId, reason: `leaked: ${pat.accessToken}` } }]);
    expect(output.audit()[0]!.reason).toBe(`leaked: ${pat.accessToken.slice(0, 8)}…sha256:${sha256(pat.accessToken)}`);
    expect(output.text()).not.toContain(pat.accessToken.split('.')[2]);
  });

  it('a token wrapped at 64 columns, or a raw key, is fingerprinted piece by piece: no piece is printed', async () => {
    const pat = world.sandbox.addPat();
    const wrapped = pat.accessToken.match(/.{1,64}/g)!;
    const key = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d as string; // 43 characters
    const { tokenId } = world.sandbox.addPat();
    await world.handler()([{ messageId: 'm1', body: [tokenId, ...wrapped, key].join('\n') }]);
    expect(world.sandbox.isActive(tokenId)).toBe(false);
    const everything = await seen();
    for (const piece of [...wrapped.slice(0, -1), key]) expect(everything).not.toContain(piece.slice(8));
  });

  it('a leaked token counts against the 100 tokens of a message, as the ID it names', async () => {
    const leaked = Array.from({ length: 101 }, () => world.sandbox.accessTokenFor());
    await world.handler()([{ messageId: 'm1', body: { tokenIds: leaked } }]);
    expect(world.sandbox.requestCount).toBe(0);
    const [dead] = await world.sqs.drainDeadLetters();
    expect(dead!.body).toMatchObject({
      tokenIds: [],
      failures: [{ outcome: 'invalid', detail: expect.stringMatching(/101 token IDs; at most 100 per message/) }],
    });
  });
});

describe('hostile values cost linear time', () => {
  it('long runs of spaces in a value and of JWT starts in metadata do not hold the function past its deadline', async () => {
    // Each once took minutes to read (a backtracking pattern); the valid token beside them must still be switched off
    // within a 10-second invocation.
    const { tokenId } = world.sandbox.addPat();
    const body = { tokenIds: [tokenId, `x${' '.repeat(100_000)}x`], reason: 'eyJ'.repeat(40_000) };
    const response = await world.handler()([{ messageId: 'm1', body }], 10_000);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(world.sandbox.isActive(tokenId)).toBe(false);
  });
});
