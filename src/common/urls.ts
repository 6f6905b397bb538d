import { InvalidParameterError } from './errors';

/**
 * The one validator for each kind of URL the service dials: RTMP(S) far ends (relays, `static_push`) and
 * HTTP(S) receivers (`webhooks`, `on_publish`). Start-up and run time call the same function, so a value
 * that passes the config check cannot fail later. Problems are InvalidParameterError (a 400 at the API)
 * whose message completes "url …" or "config static_push …".
 */

/** A far end parsed from `rtmp://host[:port]/app[/more]/stream`. */
export interface RtmpUrl {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  readonly app: string;
  readonly streamName: string;
  readonly tcUrl: string;
  /** The URL without its stream name (which may be a key): safe for logs and stats. */
  readonly redacted: string;
}

const RTMP_DEFAULT_PORTS = { rtmp: 1935, rtmps: 443 };

export const RTMP_URL_RULE = 'must be an rtmp:// or rtmps:// URL';
export const RTMP_PATH_RULE = 'must name a host, an app and a stream: rtmp://host/app/stream';
export const HTTP_URL_RULE = 'must be an http:// or https:// URL';

/** Parses an RTMP(S) URL with a host, an app and a stream name. Throws InvalidParameterError. */
export function parseRtmpUrl(text: string): RtmpUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidParameterError(RTMP_URL_RULE);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'rtmp' && scheme !== 'rtmps') throw new InvalidParameterError(RTMP_URL_RULE);
  let parts: string[];
  try {
    parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new InvalidParameterError(`${RTMP_URL_RULE} (a bad %-escape in its path)`);
  }
  if (!url.hostname || parts.length < 2) throw new InvalidParameterError(RTMP_PATH_RULE);
  const streamName = parts[parts.length - 1] + url.search;
  const app = parts.slice(0, -1).join('/');
  const port = url.port ? Number(url.port) : RTMP_DEFAULT_PORTS[scheme];
  const authority = `${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}:${port}`;
  return {
    secure: scheme === 'rtmps',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    app,
    streamName,
    tcUrl: `${scheme}://${authority}/${app}`,
    redacted: `${scheme}://${authority}/${app}/…`,
  };
}

/**
 * A `static_push` prefix: each publish of room R is pushed to `{prefix}/R`, so the prefix is checked as
 * the URL it becomes. Returns the prefix without trailing slashes.
 */
export function parseRtmpPrefix(text: string): string {
  const prefix = text.trim().replace(/\/+$/, '');
  try {
    parseRtmpUrl(`${prefix}/room`);
  } catch {
    throw new InvalidParameterError(
      'must be an rtmp:// or rtmps:// URL prefix with a host and an app: rtmp://host[:port]/app',
    );
  }
  return prefix;
}

/** Checks an http(s):// URL with a host and returns it trimmed. Throws InvalidParameterError. */
export function parseHttpUrl(text: string): string {
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new InvalidParameterError(HTTP_URL_RULE);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new InvalidParameterError(HTTP_URL_RULE);
  }
  return trimmed;
}

/**
 * A URL as logs may show it: scheme and host only. Receivers often carry a token in the path or query
 * (`/hooks/<secret>`), so the rest never reaches a log line.
 */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}/…`;
  } catch {
    return '(not a URL)';
  }
}
