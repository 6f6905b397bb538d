/** RTMP message / FLV tag types carried by a stream (FLV spec §E.4.1). */
export enum PacketType {
  Audio = 8,
  Video = 9,
  /** AMF0 data (onMetaData). */
  Data = 18,
}

/**
 * One media message of a live stream, as the publisher sent it: the payload is exactly an RTMP message
 * body, which is also an FLV tag body (audio/video tag header included). Every consumer (RTMP and
 * HTTP-FLV players, HLS muxer, archive) reads this one shape; none may modify `payload`.
 */
export interface MediaPacket {
  readonly type: PacketType;
  /** Decode timestamp in milliseconds, unsigned 32-bit (wraps after 2^32). */
  readonly timestamp: number;
  readonly payload: Buffer;
}
