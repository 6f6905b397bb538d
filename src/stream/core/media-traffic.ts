import { Injectable } from '@nestjs/common';

/**
 * Media bytes through this instance, counted on the hot path as two plain numbers (no label lookups per
 * packet): RTMP bytes received, and media bytes sent to players of every protocol. Sessions count into
 * it; `/metrics` reads it at scrape time.
 */
@Injectable()
export class MediaTraffic {
  bytesIn = 0;
  bytesOut = 0;
}
