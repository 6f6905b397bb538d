import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { RoomNotFoundError } from '../common/errors';
import { StatSnapshot, StatsService } from '../stream/stats/stats.service';
import { RequestParam } from './request-param.decorator';

/** `/stat/livestat`: publishers and players of every protocol (SPEC §4). */
@Controller('stat')
export class StatController {
  constructor(private readonly stats: StatsService) {}

  @Get('livestat')
  @HttpCode(200)
  livestat(@RequestParam('room') room?: string): ApiEnvelope<StatSnapshot> {
    const snapshot = this.stats.snapshot(room === '' ? undefined : room);
    if (!snapshot) throw new RoomNotFoundError('room not found or inactive');
    return envelope(200, snapshot);
  }
}
