import { createSecretKey, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig } from '../config/app-config';

/** Clock skew allowed on `exp` and `nbf` (SPEC §4). */
export const JWT_CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Verifies API tokens: `Authorization: Bearer` first, then the `jwt` query parameter; only the configured
 * HMAC algorithm; no claim required. Whatever the token carries becomes `request.user`.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromExtractors([
        ExtractJwt.fromAuthHeaderAsBearerToken(),
        ExtractJwt.fromUrlQueryParameter('jwt'),
      ]),
      // Without a secret the guard never calls the strategy; a random one keeps it unusable anyway.
      // A KeyObject, made once: given a string, jsonwebtoken tries to parse it as a public key on every
      // verification, which costs more than the HMAC itself (measured in bench/).
      secretOrKey: createSecretKey(
        config.jwt.secret ? Buffer.from(config.jwt.secret) : randomBytes(32),
      ) as unknown as Buffer,
      algorithms: [config.jwt.algorithm],
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS },
    });
  }

  validate(payload: unknown): unknown {
    return payload ?? {};
  }
}
