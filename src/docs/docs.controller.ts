import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, Query, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { OpenApiDocument } from './openapi';

/** Files of swagger-ui-dist the docs page loads. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
};

/**
 * `/openapi.json` and a Swagger UI page at `/docs`, both behind the API's JWT guard like everything else
 * on `api_addr`: open `/docs?jwt=<token>` in a browser and the page passes the token on.
 */
@ApiExcludeController()
@Controller()
export class DocsController {
  private readonly assets = new Map<string, Buffer>();

  constructor(private readonly openApi: OpenApiDocument) {}

  @Get('openapi.json')
  document(): object {
    if (!this.openApi.document) throw new NotFoundException('the API description is not ready');
    return this.openApi.document;
  }

  @Get('docs')
  @Header('Content-Type', 'text/html; charset=utf-8')
  page(@Query('jwt') jwt?: string): string {
    // The token goes back into HTML attributes and a script string: URLSearchParams percent-encodes
    // every character but [A-Za-z0-9*-._], so nothing it reflects can close a quote or a tag.
    const suffix =
      typeof jwt === 'string' && jwt !== '' ? `?${new URLSearchParams({ jwt }).toString()}` : '';
    return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>livego-nest control API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css${suffix}"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js${suffix}"></script>
<script>
SwaggerUIBundle({ url: '/openapi.json${suffix}', dom_id: '#ui', persistAuthorization: true });
</script>
</body></html>`;
  }

  @Get('docs/:file')
  asset(@Param('file') file: string, @Res({ passthrough: true }) response: Response): Buffer {
    const type = ASSETS[file];
    if (!type) throw new NotFoundException('no such file');
    let body = this.assets.get(file);
    if (!body) {
      body = readFileSync(join(dirname(require.resolve('swagger-ui-dist/package.json')), file));
      this.assets.set(file, body);
    }
    response.type(type).setHeader('Cache-Control', 'public, max-age=3600');
    return body;
  }
}
