import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { InvalidParameterError, MethodNotAllowedError } from '../common/errors';

const ACCEPTED_METHODS = new Set(['GET', 'HEAD', 'POST']);

/** Longest parameter value read; anything longer is refused before it reaches a service. */
const MAX_PARAM_LENGTH = 4096;

/**
 * One request parameter from the query string, or else from a url-encoded POST body (SPEC §4).
 * A parameter given twice or as a nested object is a 400; a missing one is undefined.
 */
export const RequestParam = createParamDecorator((name: string, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<Request>();
  if (!ACCEPTED_METHODS.has(request.method)) throw new MethodNotAllowedError('use GET or POST');
  const query = request.query as Record<string, unknown>;
  const body = (
    typeof request.body === 'object' && request.body !== null ? request.body : {}
  ) as Record<string, unknown>;
  const value = query[name] ?? body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new InvalidParameterError(`${name} must be given once, as text`);
  if (value.length > MAX_PARAM_LENGTH) {
    throw new InvalidParameterError(`${name} is longer than ${MAX_PARAM_LENGTH} characters`);
  }
  return value;
});
