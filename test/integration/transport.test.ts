/**
 * The HTTP exchange under the Dfns client, against small raw servers that misbehave in ways the sandbox does not:
 * an endless body, connections closed while the client looks away (a frozen Lambda container).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNodeTransport, MAX_BODY_BYTES, type HttpExchange } from '../../functions/lib/dfns/transport.js';

/** Routes of the misbehaving server. */
const routes: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
  '/announced-too-large': (res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES + 1) });
    res.write('{"padding":"'); // and then nothing: the client must refuse on the header alone
  },
  '/endless': (res) => {
    // Chunked, no length: it only stops when the client goes away.
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = 'x'.repeat(64 * 1024);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  },
  '/silent': () => undefined, // headers never come
  '/switching-protocols': (res) => {
    res.socket!.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n');
  },
};

let server: Server;
let origin: string;
const sockets = new Set<Socket>();
/** Paths whose answer the client closed before its end. */
const closedByClient: string[] = [];

beforeAll(async () => {
  // keepAliveTimeout 0: no `Keep-Alive: timeout` hint, like a load balancer that closes idle connections silently.
  server = createServer({ keepAliveTimeout: 0 }, (req, res) => {
    req.resume();
    res.once('close', () => {
      if (!res.writableFinished) closedByClient.push(req.url ?? '');
    });
    (routes[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  origin = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const exchange = (path: string, signal = new AbortController().signal): HttpExchange => ({
  method: 'POST',
  url: `${origin}${path}`,
  headers: { 'content-type': 'application/json' },
  body: '{}',
  signal,
});

describe('node transport', () => {
  it('returns a whole answer', async () => {
    await expect(createNodeTransport()(exchange('/ok'))).resolves.toEqual({
      status: 200,
      contentType: 'application/json',
      retryAfter: undefined,
      text: '{"ok":true}',
    });
  });

  it('refuses a body announced over 1 MiB before reading it', async () => {
    await expect(createNodeTransport()(exchange('/announced-too-large'))).rejects.toMatchObject({
      code: 'ERR_DFNS_BODY_TOO_LARGE',
    });
  });

  it('stops reading an endless body at 1 MiB and closes the connection, instead of buffering until the process dies', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    await expect(createNodeTransport()(exchange('/endless'))).rejects.toMatchObject({
      code: 'ERR_DFNS_BODY_TOO_LARGE',
      message: `the answer is larger than ${MAX_BODY_BYTES} bytes`,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closedByClient).toContain('/endless');
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * MAX_BODY_BYTES);
  });

  it('settles on an unsolicited 101 Switching Protocols at once, as a hang-up (Node destroys such a request silently)', async () => {
    await expect(createNodeTransport()(exchange('/switching-protocols'))).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('settles when aborted, whatever state the request is in', async () => {
    const controller = new AbortController();
    const call = createNodeTransport()(exchange('/silent', controller.signal));
    controller.abort(new Error('deadline'));
    await expect(call).rejects.toThrow('deadline');
    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    await expect(createNodeTransport()(exchange('/ok', aborted.signal))).rejects.toThrow('already');
  });

  it('drops connections idle longer than idleSocketMs by the wall clock: after a thaw, no request meets a dead socket', async () => {
    for (const [drop, expected] of [
      [true, ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']],
      [false, ['rejected', 'rejected', 'rejected', 'rejected']],
    ] as const) {
      let wallClock = 1_000_000;
      // Without the drop (an idle limit of an hour), the same scene shows what the drop prevents.
      const transport = createNodeTransport({ idleSocketMs: drop ? 1_000 : 3_600_000, now: () => wallClock });
      await Promise.all(Array.from({ length: 4 }, () => transport(exchange('/ok')))); // four pooled connections
      // The container is frozen: the far end closes the idle connections, the client's timers do not run, and the
      // first requests after the thaw go out before the client's event loop has seen a single FIN.
      for (const socket of sockets) socket.destroy();
      wallClock += 5_000;
      const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => transport(exchange('/ok'))));
      expect(outcomes.map((o) => o.status)).toEqual(expected);
    }
  });
});
