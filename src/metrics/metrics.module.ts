import { Global, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { ApiMetricsMiddleware } from './api-metrics.middleware';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** Prometheus metrics (`/metrics`); global so that any module can record into MetricsService. */
@Global()
@Module({
  providers: [MetricsService],
  controllers: [MetricsController],
  exports: [MetricsService],
})
export class MetricsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ApiMetricsMiddleware).forRoutes('*path');
  }
}
