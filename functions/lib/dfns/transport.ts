/**
 * The HTTP exchange under the Dfns client: one request, its whole answer as text, nothing else.
 *
 * Built on `node:http`/`node:https` with one keep-alive agent per protocol for the life of the container, so every
 * token of every invocation reuses the same connections (and TLS sessions). Not on `fetch`: on Node 20 undici's
 * `fetch` spends about four times the CPU of `http.request` per request (WHATWG streams, header guards), and at
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
 * Sends one request and reads the whole answer.
 *
 * @throws the socket's error (`code` `ECONNREFUSED`, `ECONNRESET`, `ENOTFOUND`, a TLS code, ...) when no complete
 *   answer arrives, including a connection that closes in the middle of the body; an `AbortError` when `signal`
 *   aborts. A complete answer is returned whatever its status.
 */
export type Transport = (exchange: HttpExchange) => Promise<HttpAnswer>;

/**
 * How long an idle connection stays in the pool, in ms. Idle sockets are also closed earlier when the server's
 * `Keep-Alive: timeout` says so (Node's agent honours it); undici's default is the same 4 s.
 */
export const IDLE_SOCKET_MS = 4_000;

let agents: { http: HttpAgent; https: HttpsAgent } | undefined;

/** The container's agents, made on first use. */
function pool(): { http: HttpAgent; https: HttpsAgent } {
  agents ??= {
    http: new HttpAgent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    https: new HttpsAgent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  };
  return agents;
}

/** The default {@link Transport}: `node:http` for `http:` URLs (the loopback sandbox), `node:https` otherwise. */
export const nodeTransport: Transport = ({ method, url, headers, body, signal }) =>
  new Promise<HttpAnswer>((resolve, reject) => {
    const secure = url.startsWith('https:');
    const send = secure ? httpsRequest : httpRequest;
    const req = send(url, {
      method,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      agent: secure ? pool().https : pool().http,
      signal,
    });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.once('error', reject);
      res.once('end', () => {
        // A connection that ends early (or an abort that only dumped the rest) must not pass for a whole body.
        if (!res.complete || signal.aborted) {
          reject(signal.aborted ? signal.reason : truncated());
          return;
        }
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          retryAfter: header(res.headers['retry-after']),
          text,
        });
      });
      res.once('close', () => {
        if (!res.complete) reject(signal.aborted ? signal.reason : truncated());
      });
    });
    req.end(body);
  });

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function truncated(): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error('the connection closed before the whole answer arrived');
  error.code = 'ECONNRESET';
  return error;
}
