import type { StreamEventName } from '../events/stream-events';
import { ListenAddress } from './listen-address';

export type LogLevelName = 'error' | 'warn' | 'info' | 'debug';
export type JwtAlgorithm = 'HS256' | 'HS384' | 'HS512';

/** One entry of `server[]`: an application (first path segment) and what it serves. */
export interface AppEntry {
  readonly appname: string;
  readonly live: boolean;
  readonly hls: boolean;
  readonly flv: boolean;
  readonly api: boolean;
  /** RTMP(S) URL prefixes every publish on this app is pushed to (`{prefix}/{room}`). */
  readonly static_push: readonly string[];
}

/** One entry of `webhooks[]`. */
export interface WebhookEntry {
  readonly url: string;
  /** Event names to send; empty means every event. */
  readonly events: readonly StreamEventName[];
  /** HMAC-SHA256 key for the signature header; empty falls back to `webhook_secret`. */
  readonly secret: string;
}

/**
 * The validated configuration, built once at start-up (see config.loader.ts) and injected by class token.
 * Key names are LiveGo's, so messages and docs name the same thing the operator wrote.
 */
export class AppConfig {
  readonly level!: LogLevelName;
  readonly rtmp_addr!: ListenAddress | null;
  readonly httpflv_addr!: ListenAddress | null;
  readonly hls_addr!: ListenAddress | null;
  readonly api_addr!: ListenAddress | null;
  readonly rtmps_addr!: ListenAddress | null;
  /** Seconds. */
  readonly read_timeout!: number;
  /** Seconds. */
  readonly write_timeout!: number;
  readonly gop_num!: number;
  /** Seconds. */
  readonly hls_fragment!: number;
  readonly hls_window!: number;
  readonly hls_keep_after_end!: boolean;
  readonly flv_archive!: boolean;
  readonly flv_dir!: string;
  readonly rtmp_noauth!: boolean;
  readonly enable_rtmps!: boolean;
  readonly rtmps_cert!: string;
  readonly rtmps_key!: string;
  /** `host:port` of Redis, or empty for the in-memory key store. */
  readonly redis_addr!: string;
  readonly redis_pwd!: string;
  readonly jwt!: { readonly secret: string; readonly algorithm: JwtAlgorithm };
  readonly max_message_size!: number;
  readonly max_connections!: number;
  /** RTMP connections one remote address may hold at once. */
  readonly max_connections_per_ip!: number;
  readonly server!: readonly AppEntry[];
  /** Where stream events are POSTed (see src/webhook/). */
  readonly webhooks!: readonly WebhookEntry[];
  /** HMAC-SHA256 key for webhooks that set none of their own, and for `on_publish`. */
  readonly webhook_secret!: string;
  /** URL asked before each publish starts; a non-2xx answer refuses it. Empty: not asked. */
  readonly on_publish!: string;
  /** The config file that was read, or null when none was. */
  readonly config_file!: string | null;
}

/** The `server[]` entry for an app name, if configured. */
export function findApp(config: AppConfig, appname: string): AppEntry | undefined {
  return config.server.find((entry) => entry.appname === appname);
}
