import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';

/** The web console at `/console` on `api_addr` (config `console`, on by default). */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
