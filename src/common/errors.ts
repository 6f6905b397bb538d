/**
 * Domain errors. Services throw these; the one exception filter (common/envelope.filter.ts) maps each to
 * the `{status, data}` envelope with its HTTP status.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
}

export class InvalidParameterError extends DomainError {
  readonly status = 400;
}

export class RoomNotFoundError extends DomainError {
  readonly status = 404;
  constructor(message = 'room not found') {
    super(message);
  }
}

export class NotFoundError extends DomainError {
  readonly status = 404;
}

export class MethodNotAllowedError extends DomainError {
  readonly status = 405;
  constructor(
    message: string,
    /** The `Allow` header's value (RFC 9110 §10.2.1). */
    readonly allow = 'GET, POST',
  ) {
    super(message);
  }
}

export class ConflictError extends DomainError {
  readonly status = 409;
}

/** The key store (Redis) did not answer in time or is disconnected. */
export class StoreUnavailableError extends DomainError {
  readonly status = 503;
  constructor(message = 'key store unavailable') {
    super(message);
  }
}

/** A listener or dependency could not start: main.ts prints the message as one line and exits 1. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A request to the API without a valid token; `challenge` is the WWW-Authenticate value (RFC 6750 §3). */
export class UnauthorizedError extends DomainError {
  readonly status = 401;
  constructor(
    message: string,
    readonly challenge: string,
  ) {
    super(message);
  }
}
