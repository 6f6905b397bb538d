import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { KeyModule } from '../key/key.module';
import { SharedRedis } from '../key/redis-connection';
import { ClusterService, roomDirectoryFor } from './cluster/cluster.service';
import { FlvArchiveService } from './archive/flv-archive.service';
import { StreamAdmission } from './core/admission';
import { MediaTraffic } from './core/media-traffic';
import { RoomDirectory } from './core/room-directory';
import { StreamAccess } from './core/stream-access';
import { StreamRegistry } from './core/stream-registry';
import { HLS_OPTIONS, hlsOptionsFromConfig } from './protocols/hls/hls-options';
import { RelayService } from './relay/relay.service';
import { HlsServer } from './servers/hls/hls-server';
import { HlsService } from './servers/hls/hls.service';
import { FlvServer } from './servers/http-flv/flv-server';
import { RtmpGateway } from './servers/rtmp/rtmp-gateway';
import { StatsService } from './stats/stats.service';
import { StreamMetrics } from './stream-metrics';

/**
 * The media plane: the stream core (StreamAccess, the one door to publish or play, and the registry
 * behind it), the RTMP/RTMPS, HTTP-FLV and HLS servers that ask it, relays, archives, stats and metrics,
 * and the cluster (the Redis RoomDirectory behind the door, edge pulls, heartbeats) when it is enabled.
 * See docs/architecture.md.
 */
@Module({
  imports: [KeyModule],
  providers: [
    StreamRegistry,
    StreamAdmission,
    MediaTraffic,
    { provide: RoomDirectory, inject: [AppConfig, SharedRedis], useFactory: roomDirectoryFor },
    StreamAccess,
    ClusterService,
    RtmpGateway,
    FlvServer,
    StatsService,
    StreamMetrics,
    RelayService,
    FlvArchiveService,
    { provide: HLS_OPTIONS, inject: [AppConfig], useFactory: hlsOptionsFromConfig },
    HlsService,
    HlsServer,
  ],
  exports: [StreamAccess, StatsService, RelayService, ClusterService],
})
export class StreamModule {}
