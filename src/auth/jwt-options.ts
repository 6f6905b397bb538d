import { createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import type { JwtModuleOptions } from '@nestjs/jwt';
import type { Algorithm } from 'jsonwebtoken';
import { AppConfig } from '../config/app-config';

/** Clock skew allowed on `exp` and `nbf` (README "Tokens"). */
export const JWT_CLOCK_TOLERANCE_SECONDS = 30;

/** `JwtModuleOptions` with the parts the passport strategy reads spelled out. */
export interface ApiJwtOptions extends JwtModuleOptions {
  readonly secret: KeyObject;
  readonly signOptions: { algorithm: Algorithm };
  readonly verifyOptions: { algorithms: Algorithm[]; clockTolerance: number };
}

/**
 * The one description of API tokens: `JwtModule` (and so `JwtService`, which signs for `npm run token`)
 * and the passport strategy that verifies them both take it. The secret is a KeyObject, made once per user of it: given
 * a string, jsonwebtoken tries to parse it as a public key on every verification, which costs more than
 * the HMAC itself. Without `jwt.secret` the guard never verifies; a random key keeps it unusable anyway.
 */
export function jwtOptions(config: AppConfig): ApiJwtOptions {
  const algorithm = config.jwt.algorithm;
  return {
    secret: createSecretKey(config.jwt.secret ? Buffer.from(config.jwt.secret) : randomBytes(32)),
    signOptions: { algorithm },
    verifyOptions: { algorithms: [algorithm], clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS },
  };
}
