import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule } from './auth/auth.module';
import { EnvelopeFilter } from './common/envelope.filter';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { ConsoleModule } from './console/console.module';
import { ControlModule } from './control/control.module';
import { DocsModule } from './docs/docs.module';
import { EventsModule } from './events/events.module';
import { MetricsModule } from './metrics/metrics.module';
import { StreamModule } from './stream/stream.module';
import { WebhookModule } from './webhook/webhook.module';

@Module({})
export class AppModule {
  /**
   * The whole service. `extensions` are extra modules (a team's own, or a test's) loaded beside the
   * built-in ones; they see the global providers (AppConfig, StreamEventBus, AdmissionHooks, metrics).
   */
  static forRoot(config: AppConfig, extensions: DynamicModule['imports'] = []): DynamicModule {
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
        WebhookModule,
        ...(config.console ? [ConsoleModule] : []),
        ...extensions,
      ],
      providers: [{ provide: APP_FILTER, useClass: EnvelopeFilter }],
    };
  }
}
