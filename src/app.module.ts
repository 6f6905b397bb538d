import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule } from './auth/auth.module';
import { EnvelopeFilter } from './common/envelope.filter';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { ControlModule } from './control/control.module';
import { DocsModule } from './docs/docs.module';
import { EventsModule } from './events/events.module';
import { MetricsModule } from './metrics/metrics.module';
import { StreamModule } from './stream/stream.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        EventsModule,
        MetricsModule,
        AuthModule,
        ControlModule,
        StreamModule,
        DocsModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: EnvelopeFilter }],
    };
  }
}
