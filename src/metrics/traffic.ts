/**
 * Media bytes through this process, counted on the hot path as plain numbers (no label lookups per
 * packet) and exported by MetricsService at scrape time.
 */
export const traffic = {
  /** Bytes received from RTMP peers (publishers, and players' control traffic). */
  bytesIn: 0,
  /** Media bytes written to players of every protocol. */
  bytesOut: 0,
};
