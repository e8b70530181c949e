/**
 * A loopback proxy in front of the loopback SQS that injects the faults an operator meets: an answer that never
 * comes, an answer lost after SQS acted, an answer rewritten (an entry missing, a move task that failed), an error.
 * It forwards everything else unchanged, so the CLI under test speaks to a real SQS-compatible server through it
 * (`--endpoint-url` / `AWS_ENDPOINT_URL_SQS`).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does with one call of an action. */
export type Fault =
  /** Never answers (SQS is not asked). */
  | { kind: 'hang' }
  /** Forwards (SQS acts), then closes the connection without an answer. */
  | { kind: 'lose-answer' }
  /** Forwards, then answers `rewrite(answer)` instead of SQS' answer. */
  | { kind: 'rewrite'; rewrite: (answer: any, request: any) => unknown }
  /** Answers this error itself (SQS is not asked). */
  | { kind: 'error'; status: number; type: string; message: string };

/** A running proxy. */
export interface SqsProxy {
  url: string;
  /** Calls seen, by action, in order. */
  calls: string[];
  /**
   * Applies `fault` to the next `times` calls of `action` (default: every call from now on) whose request `match`
   * accepts (default: every one).
   */
  inject(action: string, fault: Fault, times?: number, match?: (request: any) => boolean): void;
  clear(): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts a proxy on 127.0.0.1 forwarding to `upstream` (an origin, `http://127.0.0.1:<port>`). */
export async function startSqsProxy(upstream: string): Promise<SqsProxy> {
  const faults = new Map<string, { fault: Fault; left: number; match: (request: any) => boolean }>();
  const sockets = new Set<Socket>();
  const target = new URL(upstream);

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
      const out = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (res) => {
          void readBody(res).then((answer) =>
            resolve({ status: res.statusCode ?? 500, headers: res.headers as Record<string, string>, body: answer }),
          );
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const action =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    proxy.calls.push(action);
    const entry = faults.get(action);
    const applies = entry !== undefined && entry.left > 0 && entry.match(JSON.parse(body.toString('utf8') || '{}'));
    const fault = applies ? entry.fault : undefined;
    if (entry && fault) entry.left -= 1;
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'error') {
      res.writeHead(fault.status, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-query-error': `${fault.type};Sender`,
      });
      res.end(JSON.stringify({ __type: `com.amazonaws.sqs#${fault.type}`, message: fault.message }));
      return;
    }
    const answer = await forward(req, body);
    if (fault?.kind === 'lose-answer') {
      req.socket.destroy();
      return;
    }
    let out = answer.body;
    if (fault?.kind === 'rewrite') {
      out = Buffer.from(
        JSON.stringify(fault.rewrite(JSON.parse(answer.body.toString('utf8')), JSON.parse(body.toString('utf8')))),
      );
    }
    const headers = { ...answer.headers, 'content-length': String(out.length) };
    res.writeHead(answer.status, headers);
    res.end(out);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: SqsProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: [],
    inject: (action, fault, times = Number.POSITIVE_INFINITY, match = () => true) =>
      faults.set(action, { fault, left: times, match }),
    clear: () => {
      faults.clear();
      proxy.calls.length = 0;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
