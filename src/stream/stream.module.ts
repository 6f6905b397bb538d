import { Module } from '@nestjs/common';
import { KeyModule } from '../key/key.module';
import { FlvServer } from './flv/flv-server';
import { PublishAdmission } from './publish-admission';
import { RtmpGateway } from './rtmp/rtmp-gateway';
import { StreamRegistry } from './stream-registry';

/** The media plane: RTMP/RTMPS ingest and playback, HTTP-FLV playback, the registry of live streams. */
@Module({
  imports: [KeyModule],
  providers: [StreamRegistry, PublishAdmission, RtmpGateway, FlvServer],
  exports: [StreamRegistry],
})
export class StreamModule {}
