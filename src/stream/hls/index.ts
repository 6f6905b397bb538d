/** Native HLS (H.264 + AAC → MPEG-TS + RFC 8216 playlists). The HTTP layer needs only `HlsService`. */
export { HlsService } from './hls.service';
export {
  HLS_GRACE_SECONDS,
  HLS_OPTIONS,
  HLS_SCHEDULER,
  hlsOptionsFromConfig,
  systemScheduler,
} from './hls-options';
export type { HlsOptions, HlsScheduler } from './hls-options';
export type { HlsRoomInfo } from './hls-room';
export { HlsSegmenter } from './hls-segmenter';
export type { HlsSegment, HlsSegmenterOptions } from './hls-segmenter';
export { HlsPlaylist } from './hls-playlist';
