import type { ConfigValues } from './config.schema';

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated configuration's shape: inferred from the schema (config.schema.ts), never written out. */
export type AppConfigValues = DeepReadonly<ConfigValues> & {
  /** The config file that was read, or null when none was. */
  readonly config_file: string | null;
};

export type LogLevelName = AppConfigValues['level'];
export type JwtAlgorithm = AppConfigValues['jwt']['algorithm'];
/** One entry of `server[]`: an application (first path segment) and what it serves. */
export type AppEntry = AppConfigValues['server'][number];
/** One entry of `webhooks[]`. */
export type WebhookEntry = AppConfigValues['webhooks'][number];

/**
 * The validated configuration, built once at start-up (config.loader.ts) and handed to Nest through
 * `@nestjs/config` (config.module.ts). Modules inject it by this class token, or read single keys through
 * `ConfigService<AppConfigValues, true>`; both see the same object.
 */
// The class is the injection token, the interface its type: one name, as every module already injects it.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class AppConfig {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface AppConfig extends AppConfigValues {}

/** The `server[]` entry for an app name, if configured. */
export function findApp(config: AppConfig, appname: string): AppEntry | undefined {
  return config.server.find((entry) => entry.appname === appname);
}
