import { ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { JsonWebTokenError, NotBeforeError, TokenExpiredError } from '@nestjs/jwt';
import { UnauthorizedError } from '../common/errors';
import { AppConfig } from '../config/app-config';
import { IS_PUBLIC } from './public.decorator';

const REALM = 'livego';

/**
 * The global guard: every API route needs a valid JWT when `jwt.secret` is set, except routes marked
 * @Public(). Without a secret the API is open (start-up warns about it).
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  private readonly logger = new Logger(JwtAuthGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
  ) {
    super();
    if (!config.jwt.secret) {
      this.logger.warn(
        'jwt.secret is not set: the control API is open to anyone who can reach api_addr',
      );
    }
  }

  override canActivate(context: ExecutionContext) {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic || !this.config.jwt.secret) return true;
    return super.canActivate(context);
  }

  override handleRequest<TUser>(error: unknown, user: TUser | false, info: unknown): TUser {
    if (user && !error) return user;
    throw unauthorized(error ?? info, this.config.jwt.algorithm);
  }
}

/** Maps what passport-jwt / jsonwebtoken reported to a reason and an RFC 6750 challenge. */
function unauthorized(cause: unknown, algorithm: string): UnauthorizedError {
  const challenge = (description: string) =>
    `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"`;
  let reason: string;
  if (cause instanceof TokenExpiredError) {
    reason = 'token expired';
  } else if (cause instanceof NotBeforeError) {
    reason = 'token not yet valid';
  } else if (cause instanceof JsonWebTokenError) {
    const message = cause.message;
    if (message === 'invalid signature') reason = 'bad signature';
    else if (message === 'invalid algorithm' || message === 'jwt signature is required') {
      reason = `token algorithm not accepted (expects ${algorithm})`;
    } else reason = `malformed token (${message})`;
  } else {
    // passport-jwt reports "No auth token" when neither the header nor ?jwt= carries one.
    return new UnauthorizedError(
      'missing token: send Authorization: Bearer <token> or ?jwt=<token>',
      `Bearer realm="${REALM}"`,
    );
  }
  return new UnauthorizedError(reason, challenge(reason));
}
