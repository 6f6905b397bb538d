import { Module } from '@nestjs/common';
import { DocsController } from './docs.controller';
import { OpenApiDocument } from './openapi';

/** The control API's own description: `/openapi.json` and `/docs`. */
@Module({
  providers: [OpenApiDocument],
  controllers: [DocsController],
})
export class DocsModule {}
