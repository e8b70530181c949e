/**
 * A sandbox set up for a rehearsal: a service account with a fresh key, seeded PATs, and the text that tells an
 * operator how to point the revoker (or curl) at it. Shared by `npm run sandbox` and its test.
 */
import type { KeyKind } from './ids.js';
import type { RateLimitOptions } from './rate-limit.js';
import { startSandbox, type DfnsSandbox, type ServiceAccountSecret } from './sandbox.js';

/** Options of {@link startRehearsal}. */
export interface RehearsalOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number;
  /** How many active PATs to seed. @default 5 */
  tokens?: number;
  /** Key type of the service account. @default 'ed25519' */
  key?: KeyKind;
  /** Latency added to every request, in ms. @default 0 */
  latencyMs?: number;
  /** The organisation's request limit. @default none */
  rateLimit?: RateLimitOptions;
}

/** A running rehearsal sandbox. */
export interface Rehearsal {
  sandbox: DfnsSandbox;
  /** The generated credential, in the CONTRACT section 3 secret format. */
  secret: ServiceAccountSecret;
  /** Token IDs of the seeded, active PATs. */
  tokenIds: string[];
}

/** Starts a sandbox with a service account and seeded PATs. */
export async function startRehearsal(options: RehearsalOptions = {}): Promise<Rehearsal> {
  const sandbox = await startSandbox({
    port: options.port ?? 0,
    latencyMs: options.latencyMs ?? 0,
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
  });
  const secret = sandbox.createServiceAccount({ kind: options.key ?? 'ed25519', rsaBits: 3072 });
  return { sandbox, secret, tokenIds: sandbox.seedPats(options.tokens ?? 5) };
}

/** What `npm run sandbox` prints: where it listens, the credential, the tokens, and how to use them. */
export function usage({ sandbox, secret, tokenIds }: Rehearsal, credentialFile?: string): string {
  const first = tokenIds[0] ?? '<tokenId>';
  return [
    `Dfns sandbox listening on ${sandbox.url} (org ${sandbox.orgId})`,
    ...(sandbox.rateLimit
      ? [
          `Organisation limit: ${sandbox.rateLimit.limit} requests per ${sandbox.rateLimit.windowMs / 1000} s, ` +
            `then 429 (Retry-After: ${sandbox.rateLimit.retryAfter})`,
        ]
      : []),
    '',
    'Service-account credential (the secret format of README "The service-account credential"; a throwaway key):',
    credentialFile ? `  written to ${credentialFile} (mode 600)` : JSON.stringify(secret, null, 2).replace(/^/gm, '  '),
    '',
    `Seeded active PATs (${tokenIds.length}):`,
    ...tokenIds.map((id) => `  ${id}`),
    '',
    'Use it:',
    `  export DFNS_API_URL=${sandbox.url}`,
    `  curl -s -H "Authorization: Bearer <authToken>" ${sandbox.url}/auth/pats/${first}; echo    # state of a PAT`,
    '  Point the revoker (DFNS_API_URL, with this credential in its secret) or the official @dfns/sdk',
    '  (baseUrl) at it: every signature, challenge and user action is checked as Dfns does.',
    '',
    'Press Ctrl-C to stop.',
  ].join('\n');
}
