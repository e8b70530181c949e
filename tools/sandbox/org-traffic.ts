/**
 * The organisation's own traffic: its wallets, signers and dashboards share the request limit with the revoker.
 * A steady stream of reads (`GET /auth/pats/{id}`) with a service account of its own, through HTTP and so through
 * the same organisation counter as everyone else, tallying the 429s it receives: what the revoker must not cause.
 */
import { request } from 'node:http';
import type { DfnsSandbox } from './sandbox.js';

/** Options of {@link startOrgTraffic}. */
export interface OrgTrafficOptions {
  /** Requests sent per window, at a steady rate. */
  requestsPerWindow: number;
  /** The window, ms (the sandbox's rate window). @default 60000 */
  windowMs?: number;
}

/** A running traffic generator. */
export interface OrgTraffic {
  /** Requests sent, and how many of them Dfns refused with 429 (others: any other failure). */
  readonly sent: number;
  readonly throttled: number;
  readonly failed: number;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/** Starts sending the organisation's own traffic to `sandbox` until stopped. */
export function startOrgTraffic(sandbox: DfnsSandbox, options: OrgTrafficOptions): OrgTraffic {
  const { authToken } = sandbox.createServiceAccount({ kind: 'ed25519' });
  const [tokenId] = sandbox.seedPats(1) as [string];
  const url = new URL(`/auth/pats/${tokenId}`, sandbox.url);
  const intervalMs = (options.windowMs ?? 60_000) / options.requestsPerWindow;
  const counts = { sent: 0, throttled: 0, failed: 0 };
  const inFlight = new Set<Promise<void>>();

  const once = () =>
    new Promise<void>((resolve) => {
      counts.sent += 1;
      const req = request(url, { headers: { authorization: `Bearer ${authToken}` } }, (res) => {
        if (res.statusCode === 429) counts.throttled += 1;
        else if (res.statusCode !== 200) counts.failed += 1;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => {
        counts.failed += 1;
        resolve();
      });
      req.end();
    });

  const timer = setInterval(() => {
    const sent = once();
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent));
  }, intervalMs);

  return {
    get sent() {
      return counts.sent;
    },
    get throttled() {
      return counts.throttled;
    },
    get failed() {
      return counts.failed;
    },
    stop: async () => {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}
