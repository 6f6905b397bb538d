import { randomBytes } from 'node:crypto';
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
      secretOrKey: config.jwt.secret || randomBytes(32).toString('hex'),
      algorithms: [config.jwt.algorithm],
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS },
    });
  }

  validate(payload: unknown): unknown {
    return payload ?? {};
  }
}
