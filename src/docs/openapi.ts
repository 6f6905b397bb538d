import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** Holds the OpenAPI document, built once the application's routes exist (see main.ts). */
export class OpenApiDocument {
  document: OpenAPIObject | undefined;
}

/** Describes the control API: every route, its parameters, the envelope, the bearer scheme. */
export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('livego-nest control API')
    .setDescription(
      'LiveGo-compatible control API. Every answer is `{"status": <int>, "data": <any>}` with the HTTP ' +
        'status equal to `status`. Parameters come from the query string or a url-encoded POST body. ' +
        'When `jwt.secret` is set, every route but `/healthz` needs `Authorization: Bearer <token>` ' +
        '(or `?jwt=<token>`).',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'jwt')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  // Routes declared with @All answer GET and POST (others get 405): describe just those two.
  for (const operations of Object.values(document.paths) as Record<string, unknown>[]) {
    for (const method of UNDOCUMENTED_METHODS) delete operations[method];
  }
  return document;
}

const UNDOCUMENTED_METHODS = [
  'put',
  'delete',
  'patch',
  'options',
  'head',
  'search',
  'trace',
] as const;
