/** The control API as the page uses it: the same routes and `{status, data}` envelopes as curl. */

export interface ApiAnswer<T> {
  readonly status: number;
  readonly data: T;
}

export interface SessionItem {
  readonly session_id: number;
  readonly key: string;
  readonly url: string;
  readonly protocol: string;
  readonly remote_addr: string;
  readonly video_speed: number;
  readonly audio_speed: number;
  readonly since: string;
  readonly bitrate_history?: readonly number[];
  readonly node?: string;
}

export interface PublisherItem extends SessionItem {
  readonly video_codec: string | null;
  readonly width: number | null;
  readonly height: number | null;
  readonly fps: number | null;
  readonly audio_codec: string | null;
  readonly sample_rate: number | null;
  readonly channels: number | null;
}

export interface LiveStat {
  readonly publishers: readonly PublisherItem[];
  readonly players: readonly SessionItem[];
}

export interface NodeItem {
  readonly id: string;
  readonly advertise: string;
  readonly since: string;
  readonly last_seen: string;
  readonly streams: number;
  readonly players: number;
}

export interface Settings {
  readonly token_required: boolean;
  readonly rtmp_port: number | null;
  readonly httpflv_port: number | null;
  readonly hls_port: number | null;
  readonly apps: readonly { readonly name: string; readonly flv: boolean; readonly hls: boolean }[];
}

/** The API's root, relative to the page (`/console/` → `/`), so a path prefix in front keeps working. */
const ROOT = new URL('../', document.baseURI);

export class UnauthorizedError extends Error {}

export class Api {
  constructor(private token: string | undefined) {}

  setToken(token: string | undefined): void {
    this.token = token;
  }

  url(path: string, query: Record<string, string> = {}): string {
    const url = new URL(path, ROOT);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url.toString();
  }

  /** The event stream's URL: EventSource sends no headers, so the token goes as `?jwt=`. */
  eventsUrl(): string {
    return this.url('events', this.token ? { jwt: this.token } : {});
  }

  async get<T>(path: string, query: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    return this.send<T>(this.url(path, query), { method: 'GET' });
  }

  /** An action, as a url-encoded POST (nothing it names lands in a URL or a log). */
  async post<T>(path: string, fields: Record<string, string>): Promise<ApiAnswer<T>> {
    return this.send<T>(this.url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  private async send<T>(url: string, init: RequestInit): Promise<ApiAnswer<T>> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    const response = await fetch(url, { ...init, headers, cache: 'no-store' });
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    const answer =
      typeof body === 'object' && body !== null && 'data' in body
        ? (body as ApiAnswer<T>)
        : ({ status: response.status, data: `HTTP ${response.status}` } as ApiAnswer<T>);
    if (response.status === 401) throw new UnauthorizedError(String(answer.data));
    return { status: response.status, data: answer.data };
  }
}

export async function loadSettings(): Promise<Settings> {
  const response = await fetch(new URL('settings.json', document.baseURI), { cache: 'no-store' });
  return (await response.json()) as Settings;
}
