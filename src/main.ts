import 'reflect-metadata';
import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppLogger } from './common/app-logger';
import { errorText, StartupError } from './common/errors';
import { listenOn } from './common/listen';
import { AppConfig } from './config/app-config';
import { ConfigError } from './config/config.error';
import { loadConfig } from './config/config.loader';
import { buildOpenApi, OpenApiDocument } from './docs/openapi';

/** SIGTERM / SIGINT must end the process with 0 within 5 s (README "Limits and hardening"). */
const SHUTDOWN_DEADLINE_MS = 4500;

/** Creates the application, starts every listener and returns it. Throws StartupError / ConfigError. */
export async function startApplication(
  config: AppConfig,
  logger: AppLogger,
  extensions: Parameters<typeof AppModule.forRoot>[1] = [],
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.forRoot(config, extensions),
    {
      logger,
      abortOnError: false,
      forceCloseConnections: true,
    },
  );
  // No CORS headers unless the operator lists origins: a page on another site must not be able to read
  // the API through a browser that can reach it (an open API on a LAN, a token in a cookie-less tab).
  const origins = config.api_cors_origins;
  if (origins.length > 0) {
    app.enableCors({
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type'],
      exposedHeaders: ['WWW-Authenticate'],
    });
  }
  app.disable('x-powered-by');
  try {
    await app.init();
    app.get(OpenApiDocument).document = buildOpenApi(app);
    if (config.api_addr) await listenOn(app.getHttpServer(), config.api_addr, 'api_addr');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

/** Loads the configuration (one line and exit 1 when it is bad), starts, and stops on SIGTERM/SIGINT. */
export async function main(): Promise<void> {
  let config: AppConfig;
  let warnings: readonly string[];
  try {
    ({ config, warnings } = loadConfig({
      argv: process.argv.slice(2),
      env: process.env,
      cwd: process.cwd(),
    }));
  } catch (error) {
    return fatal(error);
  }
  const logger = new AppLogger(config.level);
  Logger.overrideLogger(logger);
  const log = new Logger('Main');
  for (const warning of warnings) log.warn(warning);
  if (config.config_file) log.log(`configuration read from ${config.config_file}`);

  let app: INestApplication;
  try {
    app = await startApplication(config, logger);
  } catch (error) {
    return fatal(error);
  }
  if (config.api_addr) log.log(`control API listening on ${config.api_addr.text}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal} received: shutting down`);
    const forced = setTimeout(() => {
      log.warn('shutdown took too long: exiting anyway');
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS);
    forced.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error(`shutdown: ${errorText(error)}`);
        process.exit(0);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Prints one line (no stack) for a start-up failure and exits 1. */
function fatal(error: unknown): void {
  const known = error instanceof ConfigError || error instanceof StartupError;
  const line = known ? errorText(error) : `start-up failed: ${errorText(error)}`;
  process.stderr.write(`livego: ${line}\n`);
  process.exit(1);
}

if (require.main === module) main().catch(fatal);
