/**
 * Prints a JWT for the control API, signed by `@nestjs/jwt`'s JwtService with the configured `jwt.secret`
 * and `jwt.algorithm` (the options the server verifies with, src/auth/jwt-options.ts).
 * The configuration is read exactly as the server reads it (livego.yaml or --config_file, .env,
 * environment, flags), so this runs next to the server with the same flags:
 *
 *   npm run --silent token -- --sub ops --ttl 1h [--claim role=admin] [--jwt.secret=... any server flag]
 *
 * --sub NAME    `sub` claim (optional; no claim is required by the server)
 * --ttl SPAN    lifetime: 30s, 15m, 1h, 7d or plain seconds (default 1h)
 * --claim K=V   an extra string claim; repeatable
 */
import { JwtService } from '@nestjs/jwt';
import { jwtOptions } from '../src/auth/jwt-options';
import { errorText } from '../src/common/errors';
import { loadConfig } from '../src/config/config.loader';

const TTL_UNITS_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };
const DEFAULT_TTL = '1h';

interface TokenRequest {
  readonly sub: string | undefined;
  readonly ttlSeconds: number;
  readonly claims: Record<string, string>;
  /** Everything else: server flags, handed to loadConfig. */
  readonly serverArgs: string[];
}

/** `30s` / `15m` / `1h` / `7d` / `90` → seconds. */
export function parseTtl(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * TTL_UNITS_SECONDS[match[2]] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(`--ttl must look like 30s, 15m, 1h or 7d (got "${text}")`);
  }
  return seconds;
}

function parseArgs(argv: readonly string[]): TokenRequest {
  let sub: string | undefined;
  let ttl = DEFAULT_TTL;
  const claims: Record<string, string> = {};
  const serverArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const match = /^--(sub|ttl|claim)(?:=([\s\S]*))?$/.exec(argv[i]);
    if (!match) {
      serverArgs.push(argv[i]);
      continue;
    }
    const [, name, inline] = match;
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    if (name === 'sub') sub = value;
    else if (name === 'ttl') ttl = value;
    else {
      const equals = value.indexOf('=');
      if (equals <= 0) throw new Error(`--claim must look like name=value (got "${value}")`);
      claims[value.slice(0, equals)] = value.slice(equals + 1);
    }
  }
  return { sub, ttlSeconds: parseTtl(ttl), claims, serverArgs };
}

function main(): void {
  const request = parseArgs(process.argv.slice(2));
  const { config } = loadConfig({ argv: request.serverArgs, env: process.env, cwd: process.cwd() });
  if (!config.jwt.secret) {
    throw new Error(
      'jwt.secret is not set (flag --jwt.secret, JWT_SECRET or livego.yaml): nothing to sign with',
    );
  }
  const payload = { ...request.claims, ...(request.sub === undefined ? {} : { sub: request.sub }) };
  // The JwtService the server's AuthModule is built with: the same secret, algorithm and options.
  const token = new JwtService(jwtOptions(config)).sign(payload, { expiresIn: request.ttlSeconds });
  process.stdout.write(`${token}\n`);
}

try {
  main();
} catch (error) {
  process.stderr.write(`token: ${errorText(error)}\n`);
  process.exit(1);
}
