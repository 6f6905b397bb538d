import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { envelope } from './api-envelope';
import { DomainError, MethodNotAllowedError, UnauthorizedError } from './errors';

/**
 * The one exception filter: domain errors, Nest's HTTP exceptions and body-parser failures become the
 * `{status, data}` envelope with a 4xx/5xx status. Anything else is a bug: logged, answered 500.
 */
@Catch()
export class EnvelopeFilter implements ExceptionFilter {
  private readonly logger = new Logger(EnvelopeFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const { status, message } = this.describe(exception, request);
    if (exception instanceof UnauthorizedError) {
      response.setHeader('WWW-Authenticate', exception.challenge);
    }
    if (exception instanceof MethodNotAllowedError) response.setHeader('Allow', exception.allow);
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(status).json(envelope(status, message));
  }

  private describe(exception: unknown, request: Request): { status: number; message: string } {
    if (exception instanceof DomainError)
      return { status: exception.status, message: exception.message };
    if (exception instanceof HttpException) {
      const body = exception.getResponse();
      const text =
        typeof body === 'string'
          ? body
          : typeof body === 'object' && body !== null && 'message' in body
            ? String(body.message)
            : exception.message;
      return { status: exception.getStatus(), message: text };
    }
    const clientStatus = clientErrorStatus(exception);
    if (clientStatus !== undefined) {
      return { status: clientStatus, message: errorMessage(exception) || 'bad request' };
    }
    this.logger.error(
      `${request.method} ${request.path} failed: ${exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)}`,
    );
    return { status: 500, message: 'internal error' };
  }
}

function errorMessage(exception: unknown): string {
  return exception instanceof Error ? exception.message : '';
}

/** body-parser and http-errors mark client errors with `status` / `statusCode` 4xx and `expose`. */
function clientErrorStatus(exception: unknown): number | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const { status, statusCode } = exception as { status?: unknown; statusCode?: unknown };
  const code = typeof status === 'number' ? status : statusCode;
  return typeof code === 'number' && code >= 400 && code < 500 ? code : undefined;
}
