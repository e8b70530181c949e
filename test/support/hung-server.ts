/** A TCP server that accepts connections and never answers: an AWS endpoint stuck during an incident. */
import { createServer, type Server, type Socket } from 'node:net';

export interface HungServer {
  url: string;
  /** Connections accepted, and how many the client has closed since. */
  accepted: number;
  closed: number;
  close(): Promise<void>;
}

export async function startHungServer(): Promise<HungServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    hung.accepted += 1;
    sockets.add(socket);
    socket.on('close', () => {
      hung.closed += 1;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const hung: HungServer = {
    url: `http://127.0.0.1:${port}`,
    accepted: 0,
    closed: 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return hung;
}
