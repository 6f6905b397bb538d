import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelopeDoc, ApiRequestParam } from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { RoomNotFoundError } from '../common/errors';
import { StatSnapshot, StatsService } from '../stream/stats/stats.service';
import { RequestParam } from './request-param.decorator';
import { StreamFilterPipe } from './request-params.pipes';

/** `/stat/livestat`: publishers and players of every protocol (README "Control API"). */
@ApiTags('stats')
@ApiBearerAuth('jwt')
@Controller('stat')
export class StatController {
  constructor(private readonly stats: StatsService) {}

  @Get('livestat')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Publishers and players of every protocol (RTMP, RTMPS, HTTP-FLV, HLS, relays)',
  })
  @ApiRequestParam('room', 'app/room (or a bare room) to list only that stream', false)
  @ApiEnvelopeDoc(200, 'sessions', {
    publishers: [
      {
        session_id: 7,
        key: 'live/news',
        url: 'rtmp://host:1935/live/news',
        stream_id: 1,
        protocol: 'rtmp',
        remote_addr: '203.0.113.7:50412',
        video_total_bytes: 1048576,
        audio_total_bytes: 65536,
        video_speed: 2500,
        audio_speed: 128,
        since: '2026-01-01T12:00:00.000Z',
        bitrate_history: [2610, 2650, 2628],
        video_codec: 'h264',
        width: 1280,
        height: 720,
        fps: 30,
        audio_codec: 'aac',
        sample_rate: 48000,
        channels: 2,
      },
    ],
    players: [],
  })
  @ApiEnvelopeDoc(404, 'the room has no publisher', 'room not found or inactive')
  livestat(
    @RequestParam('room', StreamFilterPipe) room: string | undefined,
  ): ApiEnvelope<StatSnapshot> {
    const snapshot = this.stats.snapshot(room);
    if (!snapshot) throw new RoomNotFoundError('room not found or inactive');
    return envelope(200, snapshot);
  }
}
