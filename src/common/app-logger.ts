import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { LogLevelName } from '../config/app-config';
import { StartupError } from './errors';
import { ConfigError } from '../config/config.error';

const LEVELS: Record<LogLevelName, LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/**
 * Nest's console logger at the configured level. Start-up failures are printed once, as one line, by
 * main.ts; this logger drops the copy (with stack) that Nest's bootstrap would print.
 */
export class AppLogger extends ConsoleLogger {
  constructor(level: LogLevelName) {
    super({ logLevels: LEVELS[level] });
  }

  override error(message: unknown, ...rest: unknown[]): void {
    if (message instanceof StartupError || message instanceof ConfigError) return;
    super.error(message, ...rest);
  }
}
