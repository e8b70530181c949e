/** Measurements the bench makes beside the function: the sandbox's real round trip, the bound of a batch shape. */
import { Agent, request } from 'node:http';

/** One authenticated `GET /auth/pats/{id}` (same latency as every route, no signing, no state change). */
export interface ProbeTarget {
  url: string;
  authToken: string;
  tokenId: string;
}

/** One GET with `node:http` on `agent`; resolves with its round trip, ms. */
function getWithHttp(target: ProbeTarget, agent: Agent): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const started = performance.now();
    request(
      `${target.url}/auth/pats/${target.tokenId}`,
      { agent, headers: { authorization: `Bearer ${target.authToken}` } },
      (res) => {
        res.resume();
        res.once('end', () =>
          res.statusCode === 200
            ? resolve(performance.now() - started)
            : reject(new Error(`probe: HTTP ${res.statusCode}`)),
        );
      },
    )
      .once('error', reject)
      .end();
  });
}

/** One GET with the global `fetch` (undici, keep-alive by default); resolves with its round trip, ms. */
async function getWithFetch(target: ProbeTarget): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${target.url}/auth/pats/${target.tokenId}`, {
    headers: { authorization: `Bearer ${target.authToken}` },
  });
  await res.text();
  if (res.status !== 200) throw new Error(`probe: HTTP ${res.status}`);
  return performance.now() - started;
}

/** Runs `c` workers of `rounds` sequential calls each, after one warm-up call per worker; returns every time. */
async function workers(c: number, rounds: number, call: () => Promise<number>): Promise<number[]> {
  await Promise.all(Array.from({ length: c }, call)); // connections up first, as the function's are after its first wave
  const times = await Promise.all(
    Array.from({ length: c }, async () => {
      const mine: number[] = [];
      for (let i = 0; i < rounds; i += 1) mine.push(await call());
      return mine;
    }),
  );
  return times.flat();
}

/**
 * The round trip the sandbox really gives at concurrency c, ms: the mean of `rounds` sequential keep-alive GETs by
 * each of c workers. It includes what this machine adds to the injected latency (waking processes, loopback TCP).
 */
export async function measureRoundTrip(target: ProbeTarget, c: number, rounds = 30): Promise<number> {
  const agent = new Agent({ keepAlive: true });
  try {
    const all = await workers(c, rounds, () => getWithHttp(target, agent));
    return all.reduce((a, b) => a + b, 0) / all.length;
  } finally {
    agent.destroy();
  }
}

/**
 * CPU of this process per request, µs, for `node:http` (what the Dfns client uses) and for `fetch` (what it used
 * before): `requests` GETs each, 8 at a time. The sandbox's share is in another process and not counted.
 */
export async function compareTransports(
  target: ProbeTarget,
  requests = 600,
): Promise<{ nodeHttp: number; fetch: number }> {
  const cpuPerRequest = async (call: () => Promise<number>) => {
    await workers(8, 5, call); // warm-up: JIT and connections
    const cpu0 = process.cpuUsage();
    await workers(8, requests / 8, call);
    const cpu = process.cpuUsage(cpu0);
    return Number(((cpu.user + cpu.system) / (requests + 8)).toFixed(1));
  };
  const agent = new Agent({ keepAlive: true });
  try {
    return {
      nodeHttp: await cpuPerRequest(() => getWithHttp(target, agent)),
      fetch: await cpuPerRequest(() => getWithFetch(target)),
    };
  } finally {
    agent.destroy();
  }
}

/** Share of the ideal that batches of `perBatch` tokens allow at concurrency c (the last wave runs partly idle). */
export function batchShapeBound(perBatch: number, c: number): number {
  return perBatch / (Math.ceil(perBatch / c) * c);
}
