/** A listener address in LiveGo's Go form: `:1935`, `127.0.0.1:1935`, `[::1]:1935`. */
export interface ListenAddress {
  /** The text as configured, for messages (`:1935`). */
  readonly text: string;
  /** Host to bind, or undefined for every interface. */
  readonly host: string | undefined;
  readonly port: number;
}

const MAX_PORT = 65535;

/**
 * Parses a Go-style `host:port`. Returns null for the empty string (listener off).
 * Throws an Error whose message says what is wrong; the caller adds the key name and the value.
 */
export function parseListenAddress(text: string): ListenAddress | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(trimmed);
  if (!match) {
    throw new Error('must look like ":1935", "127.0.0.1:1935" or "[::1]:1935"');
  }
  const port = Number(match[3]);
  if (port > MAX_PORT) throw new Error(`must have a port from 0 to ${MAX_PORT}`);
  const host = match[1] ?? (match[2] === '' ? undefined : match[2]);
  return { text: trimmed, host, port };
}
