import { Controller, Get, HttpCode, Injectable, PipeTransform } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelopeDoc, ApiRequestParam } from '../docs/api-docs.decorators';
import { ApiEnvelope, envelope } from '../common/api-envelope';
import { InvalidParameterError, NotFoundError, RoomNotFoundError } from '../common/errors';
import {
  ClusterNodeItem,
  ClusterService,
  ClusterStatSnapshot,
} from '../stream/cluster/cluster.service';
import { StatSnapshot, StatsService } from '../stream/stats/stats.service';
import { RequestParam } from './request-param.decorator';
import { StreamFilterPipe } from './request-params.pipes';

/** `scope=node|cluster` of `/stat/livestat` (node by default). */
@Injectable()
class ScopePipe implements PipeTransform<string | undefined, 'node' | 'cluster'> {
  transform(value: string | undefined): 'node' | 'cluster' {
    if (value === undefined || value === '' || value === 'node') return 'node';
    if (value === 'cluster') return 'cluster';
    throw new InvalidParameterError('scope must be node or cluster');
  }
}

const PUBLISHER_EXAMPLE = {
  session_id: 1,
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
};

/** `/stat/livestat`: publishers and players of every protocol; `/stat/cluster`: the nodes (README "Control API", "Cluster"). */
@ApiTags('stats')
@ApiBearerAuth('jwt')
@Controller('stat')
export class StatController {
  constructor(
    private readonly stats: StatsService,
    private readonly cluster: ClusterService,
  ) {}

  @Get('livestat')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Publishers and players of every protocol (RTMP, RTMPS, HTTP-FLV, HLS, relays)',
    description:
      "With `scope=cluster` (cluster enabled), every node's sessions, each with `node`; other nodes' as of their last heartbeat (a quarter of `cluster.ttl`). Edge pulls show as `relay`. Without the cluster the scope is ignored.",
  })
  @ApiRequestParam('room', 'app/room (or a bare room) to list only that stream', false)
  @ApiRequestParam('scope', '`node` (default) or `cluster`', false)
  @ApiEnvelopeDoc(200, 'sessions', { publishers: [PUBLISHER_EXAMPLE], players: [] })
  @ApiEnvelopeDoc(404, 'the room has no publisher', 'room not found or inactive')
  async livestat(
    @RequestParam('room', StreamFilterPipe) room: string | undefined,
    @RequestParam('scope', ScopePipe) scope: 'node' | 'cluster',
  ): Promise<ApiEnvelope<StatSnapshot | ClusterStatSnapshot>> {
    if (scope === 'cluster' && this.cluster.enabled) {
      const all = await this.cluster.snapshot();
      if (all) {
        const matches = (key: string) =>
          room === undefined || key === room || (!room.includes('/') && key.endsWith(`/${room}`));
        const publishers = all.publishers.filter((item) => matches(item.key));
        if (room !== undefined && publishers.length === 0)
          throw new RoomNotFoundError('room not found or inactive');
        return envelope(200, {
          publishers,
          players: all.players.filter((item) => matches(item.key)),
        });
      }
    }
    const snapshot = this.stats.snapshot(room);
    if (!snapshot) throw new RoomNotFoundError('room not found or inactive');
    return envelope(200, snapshot);
  }

  @Get('cluster')
  @HttpCode(200)
  @ApiOperation({ summary: 'The nodes of the cluster (README "Cluster"), this one first' })
  @ApiEnvelopeDoc(200, 'nodes', [
    {
      id: 'node-a',
      advertise: 'rtmp://10.0.0.1:1935',
      since: '2026-01-01T12:00:00.000Z',
      last_seen: '2026-01-01T12:05:00.000Z',
      streams: 1,
      players: 12,
    },
  ])
  @ApiEnvelopeDoc(404, 'the cluster is not enabled', 'cluster is not enabled')
  async clusterNodes(): Promise<ApiEnvelope<ClusterNodeItem[]>> {
    const nodes = await this.cluster.nodes();
    if (!nodes) throw new NotFoundError('cluster is not enabled');
    return envelope(200, nodes);
  }
}
