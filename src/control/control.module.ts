import { Module } from '@nestjs/common';
import { HealthController } from '../health/health.controller';
import { KeyModule } from '../key/key.module';
import { ControlController } from './control.controller';

/** The HTTP control API served on `api_addr`. */
@Module({
  imports: [KeyModule],
  controllers: [ControlController, HealthController],
})
export class ControlModule {}
