import { Module, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { KeyModule } from '../key/key.module';
import { MetricsService } from '../metrics/metrics.service';
import { FlvArchiveService } from './archive/flv-archive.service';
import { FlvServer } from './servers/http-flv/flv-server';
import { HLS_OPTIONS, hlsOptionsFromConfig } from './protocols/hls/hls-options';
import { HlsService } from './servers/hls/hls.service';
import { HlsServer } from './servers/hls/hls-server';
import { PublishAdmission } from './core/publish-admission';
import { RelayService } from './relay/relay.service';
import { RtmpGateway } from './servers/rtmp/rtmp-gateway';
import { StatsService } from './stats/stats.service';
import { StreamRegistry } from './core/stream-registry';

/**
 * The media plane: RTMP/RTMPS ingest and playback, HTTP-FLV and HLS playback, relays, archives, stats,
 * and the registry of live streams they all share.
 */
@Module({
  imports: [KeyModule],
  providers: [
    StreamRegistry,
    PublishAdmission,
    RtmpGateway,
    FlvServer,
    StatsService,
    RelayService,
    FlvArchiveService,
    { provide: HLS_OPTIONS, inject: [AppConfig], useFactory: hlsOptionsFromConfig },
    HlsService,
    HlsServer,
  ],
  exports: [StreamRegistry, StatsService, RelayService],
})
export class StreamModule implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly stats: StatsService,
    private readonly registry: StreamRegistry,
  ) {}

  onModuleInit(): void {
    this.metrics.addConnectionSource(() => {
      const counts: Record<string, number> = {};
      for (const [, session] of this.stats.sessions()) {
        counts[session.protocol] = (counts[session.protocol] ?? 0) + 1;
      }
      return counts;
    });
    this.metrics.addStreamSource(
      () => this.registry.all().filter((stream) => stream.isLive).length,
    );
  }
}
