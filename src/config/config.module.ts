import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule as NestConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig, AppConfigValues } from './app-config';
import { ConfigError } from './config.error';
import { isValidatedConfig } from './config.loader';
import { CONFIG_KEYS } from './config.schema';

/** The top-level names of the validated object (`jwt`, not `jwt.secret`). */
const TOP_LEVEL_KEYS = [
  ...new Set(CONFIG_KEYS.map((key) => key.name.split('.')[0])),
  'config_file',
] as (keyof AppConfigValues)[];

/**
 * Hands the configuration, loaded and validated by config.loader.ts before Nest starts, to
 * `@nestjs/config`: every module reads it through `ConfigService<AppConfigValues, true>`
 * (`config.get('rtmp_addr', { infer: true })`) or injects the whole typed object as `AppConfig`.
 * `@nestjs/config` reads no `.env` and no environment of its own: the loader already applied them with
 * the documented precedence, and would be overridden otherwise.
 */
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): Promise<DynamicModule> {
    return NestConfigModule.forRoot({
      isGlobal: true,
      ignoreEnvFile: true,
      // Neither the environment nor a value of process.env may shadow a validated key.
      validatePredefined: false,
      skipProcessEnv: true,
      load: [() => ({ ...config })],
      // Only an object that went through the schema is accepted, so a module never sees raw values.
      validate: (environment) => {
        if (!isValidatedConfig(config)) {
          throw new ConfigError('configuration was not built by loadConfig (config.loader.ts)');
        }
        return environment;
      },
    }).then((nestConfig) => ({
      module: ConfigModule,
      global: true,
      imports: [nestConfig],
      providers: [
        {
          provide: AppConfig,
          inject: [ConfigService],
          useFactory: (service: ConfigService<AppConfigValues, true>): AppConfig =>
            Object.freeze(
              Object.fromEntries(TOP_LEVEL_KEYS.map((name) => [name, service.get(name)])),
            ) as AppConfig,
        },
      ],
      exports: [AppConfig, nestConfig],
    }));
  }
}
