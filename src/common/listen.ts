import type { Server } from 'node:net';
import { ListenAddress } from '../config/listen-address';
import { StartupError } from './errors';

/**
 * Starts `server` on a configured address. A taken port or an unusable address becomes a StartupError
 * naming the key (`rtmp_addr :1935 is already in use`), which main.ts prints as one line before exit 1.
 */
export function listenOn(server: Server, address: ListenAddress, key: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const reason =
        error.code === 'EADDRINUSE'
          ? 'is already in use'
          : error.code === 'EACCES'
            ? 'is not allowed for this user (ports below 1024 need privileges)'
            : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
              ? 'is not an address of this machine'
              : `cannot be listened on (${error.code ?? error.message})`;
      reject(new StartupError(`${key} ${address.text} ${reason}`));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address.host, port: address.port });
  });
}
