import { Module, OnModuleInit } from '@nestjs/common';
import { KeyModule } from '../key/key.module';
import { MetricsService } from '../metrics/metrics.service';
import { FlvArchiveService } from './archive/flv-archive.service';
import { FlvServer } from './flv/flv-server';
import { PublishAdmission } from './publish-admission';
import { RelayService } from './relay/relay.service';
import { RtmpGateway } from './rtmp/rtmp-gateway';
import { StatsService } from './stats/stats.service';
import { StreamRegistry } from './stream-registry';

/** The media plane: RTMP/RTMPS ingest and playback, HTTP-FLV playback, the registry of live streams. */
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
