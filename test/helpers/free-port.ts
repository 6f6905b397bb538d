import { createServer, Server } from 'node:net';

/**
 * Ports this test process has handed out. The OS may offer a port again as soon as the probe closes it,
 * before the server it was meant for binds it; never handing one out twice keeps servers started together
 * from colliding.
 */
const handedOut = new Set<number>();
const MAX_ATTEMPTS = 20;

/**
 * Free TCP ports on 127.0.0.1, chosen by the OS, distinct from each other and from every port an earlier
 * call returned in this process.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt >= count * MAX_ATTEMPTS) throw new Error(`no ${count} free ports on ${host}`);
      const server = createServer();
      held.push(server);
      const port = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: 0, exclusive: true }, () => {
          const address = server.address();
          if (address === null || typeof address === 'string') reject(new Error('no TCP address'));
          else resolve(address.port);
        });
      });
      if (!handedOut.has(port)) ports.push(port);
    }
    for (const port of ports) handedOut.add(port);
    return ports;
  } finally {
    await Promise.all(
      held.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

/** One free TCP port on 127.0.0.1 (see freePorts). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port;
}
