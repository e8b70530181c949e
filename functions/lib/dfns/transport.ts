/**
 * The HTTP exchange under the Dfns client: one request, its whole answer as text, nothing else.
 *
 * Built on `node:http`/`node:https` with one keep-alive agent per protocol for the life of the container, so every
 * token of every invocation reuses the same connections (and TLS sessions). Not on `fetch`: on Node 20 undici's
 * `fetch` spends two to four times the CPU of `http.request` per request (WHATWG streams, header guards), and at
 * `MAX_CONCURRENCY` 32 that CPU is what stretches every round trip (`npm run bench`).
 *
 * Redirects are never followed (neither module does): a 3xx comes back as it is, so the bearer token and the user
 * action never go to another origin.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** One answer, read to its end. */
export interface HttpAnswer {
  status: number;
  /** `content-type`, or `''`. */
  contentType: string;
  /** `retry-after` as sent, when present. */
  retryAfter: string | undefined;
  /** The body decoded as UTF-8. */
  text: string;
}

/** One request; `url` is absolute. */
export interface HttpExchange {
  method: 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Aborting destroys the request (and its connection); the promise then rejects. */
  signal: AbortSignal;
}

/**
 * Sends one request and reads the whole answer. Settles exactly once.
 *
 * @throws the socket's error (`code` `ECONNREFUSED`, `ECONNRESET`, `ENOTFOUND`, a TLS code, ...) when no complete
 *   answer arrives, including a connection that closes in the middle of the body or without any answer (`ECONNRESET`);
 *   `ERR_DFNS_BODY_TOO_LARGE` for a body over the limit; `signal.reason` when `signal` aborts. A complete answer is
 *   returned whatever its status.
 */
export type Transport = (exchange: HttpExchange) => Promise<HttpAnswer>;

/**
 * How long an idle connection stays in the pool, in ms. Idle sockets are also closed earlier when the server's
 * `Keep-Alive: timeout` says so (Node's agent honours it); undici's default is the same 4 s.
 */
export const IDLE_SOCKET_MS = 4_000;

/** Largest answer body read, in bytes (1 MiB): Dfns answers are a few KB; a bigger one is refused, never buffered. */
export const MAX_BODY_BYTES = 1 << 20;

/** Options of {@link createNodeTransport}; the defaults are production's. */
export interface NodeTransportOptions {
  /** Idle time after which pooled connections are not reused, ms. @default IDLE_SOCKET_MS */
  idleSocketMs?: number;
  /** Largest body read, bytes. @default MAX_BODY_BYTES */
  maxBodyBytes?: number;
  /** Wall clock, ms; for tests. @default Date.now */
  now?: () => number;
}

/**
 * A {@link Transport} with its own keep-alive agents: `node:http` for `http:` URLs (the loopback sandbox),
 * `node:https` otherwise, with certificate checks forced on (`NODE_TLS_REJECT_UNAUTHORIZED=0` cannot turn them off).
 *
 * Connections left idle longer than `idleSocketMs` by the wall clock are dropped before the next request: Lambda
 * freezes the process between invocations, the agents' idle timers do not run then, and after a thaw the pool can
 * hold connections the far end closed long ago (each would cost a token an attempt and a backoff).
 */
export function createNodeTransport(options: NodeTransportOptions = {}): Transport {
  const idleSocketMs = options.idleSocketMs ?? IDLE_SOCKET_MS;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const now = options.now ?? Date.now;
  let agents: Record<'http' | 'https', { agent: HttpAgent; lastUsed: number }> | undefined;

  /** The agent for this URL, its stale connections dropped. */
  const agentFor = (secure: boolean) => {
    agents ??= {
      http: { agent: new HttpAgent({ keepAlive: true, timeout: idleSocketMs }), lastUsed: 0 },
      https: {
        agent: new HttpsAgent({ keepAlive: true, timeout: idleSocketMs, rejectUnauthorized: true }),
        lastUsed: 0,
      },
    };
    const entry = secure ? agents.https : agents.http;
    const time = now();
    if (time - entry.lastUsed > idleSocketMs) {
      for (const sockets of Object.values(entry.agent.freeSockets))
        for (const socket of sockets ?? []) socket.destroy();
    }
    entry.lastUsed = time;
    return entry;
  };

  return ({ method, url, headers, body, signal }) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const secure = url.startsWith('https:');
      const pooled = agentFor(secure);
      let settled = false;
      const settle = (error: unknown, answer?: HttpAnswer) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (answer) resolve(answer);
        else reject(error);
      };
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: pooled.agent,
      });
      // Settled here, not through the request's `signal` option: a request Node already destroyed (after an
      // unsolicited 101 Switching Protocols, say) emits nothing more, and the call would hang past every deadline.
      const onAbort = () => {
        req.destroy();
        settle(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('error', (error) => settle(error));
      let answered = false;
      req.once('close', () => {
        if (!answered) settle(hangUp('the connection closed without an answer'));
      });
      req.once('response', (res: IncomingMessage) => {
        answered = true;
        if (Number(res.headers['content-length']) > maxBodyBytes) {
          req.destroy(tooLarge(maxBodyBytes));
          return;
        }
        const cutShort = () =>
          settle(signal.aborted ? signal.reason : hangUp('the connection closed before the whole answer arrived'));
        res.setEncoding('utf8');
        let text = '';
        let bytes = 0;
        res.on('data', (chunk: string) => {
          bytes += Buffer.byteLength(chunk);
          if (bytes > maxBodyBytes) req.destroy(tooLarge(maxBodyBytes));
          else text += chunk;
        });
        res.once('error', (error) => settle(error));
        res.once('end', () => {
          pooled.lastUsed = now();
          // A connection that ends early (or an abort that only dumped the rest) must not pass for a whole body.
          if (!res.complete || signal.aborted) {
            cutShort();
            return;
          }
          settle(undefined, {
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? '',
            retryAfter: header(res.headers['retry-after']),
            text,
          });
        });
        res.once('close', () => {
          if (!res.complete) cutShort();
        });
      });
      req.end(body);
    });
}

/** The container's transport: one pool of connections shared by every client and invocation. */
export const nodeTransport: Transport = createNodeTransport();

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function hangUp(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

function tooLarge(limit: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`the answer is larger than ${limit} bytes`), { code: 'ERR_DFNS_BODY_TOO_LARGE' });
}
