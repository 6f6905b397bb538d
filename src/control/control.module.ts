import { Module } from '@nestjs/common';
import { HealthController } from '../health/health.controller';
import { KeyModule } from '../key/key.module';
import { StreamModule } from '../stream/stream.module';
import { ControlController } from './control.controller';
import { EventStreamService } from './event-stream.service';
import { EventsController } from './events.controller';
import { RelayController } from './relay.controller';
import { StatController } from './stat.controller';

/** The HTTP control API served on `api_addr`. */
@Module({
  imports: [KeyModule, StreamModule],
  controllers: [
    ControlController,
    RelayController,
    StatController,
    EventsController,
    HealthController,
  ],
  providers: [EventStreamService],
})
export class ControlModule {}
