import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig } from '../config/app-config';
import { jwtOptions } from './jwt-options';

/**
 * Verifies API tokens: `Authorization: Bearer` first, then the `jwt` query parameter; only the configured
 * HMAC algorithm (the JwtModule's options); no claim required. Whatever the token carries becomes
 * `request.user`.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(config: AppConfig) {
    const options = jwtOptions(config);
    super({
      jwtFromRequest: ExtractJwt.fromExtractors([
        ExtractJwt.fromAuthHeaderAsBearerToken(),
        ExtractJwt.fromUrlQueryParameter('jwt'),
      ]),
      secretOrKey: options.secret as unknown as Buffer,
      algorithms: options.verifyOptions.algorithms,
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: options.verifyOptions.clockTolerance },
    });
  }

  validate(payload: unknown): unknown {
    return payload ?? {};
  }
}
