import { createParamDecorator, ExecutionContext, PipeTransform, Type } from '@nestjs/common';
import type { Request } from 'express';
import { InvalidParameterError, MethodNotAllowedError } from '../common/errors';

/**
 * Methods an action route (`/control/*`) answers. HEAD is not one of them: a client or proxy that sends
 * HEAD expects no effect, so it gets a 405 rather than a new key or a started relay.
 */
export const ACTION_METHODS = ['GET', 'POST'] as const;
const ACCEPTED_METHODS = new Set<string>(ACTION_METHODS);

/** Longest parameter value read; anything longer is refused before it reaches a service. */
const MAX_PARAM_LENGTH = 4096;

const readParam = createParamDecorator((name: string, context: ExecutionContext) => {
  const request = context.switchToHttp().getRequest<Request>();
  if (!ACCEPTED_METHODS.has(request.method)) {
    throw new MethodNotAllowedError(`use ${ACTION_METHODS.join(' or ')}`);
  }
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

/**
 * One request parameter from the query string, or else from a url-encoded POST body (LiveGo's API),
 * as text or undefined; `pipes` (request-params.pipes.ts) turn it into the typed value the service takes.
 * A parameter given twice or as a nested object is a 400.
 */
export function RequestParam(
  name: string,
  ...pipes: (Type<PipeTransform> | PipeTransform)[]
): ParameterDecorator {
  return readParam(name, ...pipes);
}
