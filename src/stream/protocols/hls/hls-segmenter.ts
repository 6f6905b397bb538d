import { MediaPacket, PacketType } from '../../core/media-packet';
import {
  AAC_SAMPLES_PER_FRAME,
  AacConfig,
  ADTS_HEADER_BYTES,
  ADTS_MAX_FRAME_BYTES,
  parseAacConfig,
  writeAdtsHeader,
} from '../codecs/aac';
import { AnnexBWriter, AvcConfig, parseAvcConfig, sameAvcConfig } from '../codecs/avc';
import { readAudioTagHeader, readVideoTagHeader, TagHeader, TagKind } from '../flv/flv-tag';
import { MediaTimeline } from './media-timeline';
import { PTS_TICKS_PER_MS, TsMuxer, TsTracks } from '../mpegts/ts-muxer';

/** One finished MPEG-TS segment. */
export interface HlsSegment {
  /** Media sequence number (RFC 8216 §4.3.3.2); the playlist's URIs are built from it. */
  readonly sequence: number;
  /** Duration from its first DTS to the next segment's first DTS (or the stream's end), seconds. */
  readonly durationSeconds: number;
  readonly data: Buffer;
  /** Bytes of `data` that carry video, and audio (the rest is PSI): counted by the muxer as it writes. */
  readonly videoBytes: number;
  readonly audioBytes: number;
  /** Starts a new publish or a new encoding: the playlist puts `#EXT-X-DISCONTINUITY` before it. */
  readonly discontinuity: boolean;
}

export interface HlsSegmenterOptions {
  /** Target segment length; segments are cut at the first key frame after it. */
  readonly fragmentSeconds: number;
  /** Sequence number of the first segment (continues a room's playlist). Default 0. */
  readonly firstSequence?: number;
  /** Flag the first segment as a discontinuity (a new publish continuing a playlist). */
  readonly discontinuity?: boolean;
  /** Output timeline position of the first packet, ms (continues a room's timeline). */
  readonly startTimeMs?: number;
}

/** Packets the segmenter could not use, by reason (for logs and stats). */
export interface HlsSegmenterCounters {
  /** Truncated or invalid headers, NAL lengths, configurations: dropped. */
  malformedPackets: number;
  /** Codecs HLS does not carry here (HEVC, AV1, enhanced RTMP, MP3, ...): skipped. */
  unsupportedPackets: number;
  /** Frames before the decoder configuration or the first key frame (late start): dropped. */
  waitingPackets: number;
  /** Packets that hit a bug (caught so one stream cannot break the server); should stay 0. */
  internalErrors: number;
}

/** Where a publish's timeline starts: far enough above 0 for PCR lead and small negative offsets. */
export const TIMELINE_START_MS = 10_000;
/**
 * Without video, audio frames are held this long before the stream is taken as audio-only, so that an
 * encoder that sends its first audio before its first video still gets an audio+video first segment.
 */
const AUDIO_ONLY_PROBE_MS = 1_000;
/** Audio frames held while waiting for the first key frame (≈ 12 s of 44.1 kHz AAC). */
const MAX_HELD_AUDIO_FRAMES = 512;
/**
 * Audio frames are grouped into one PES up to this span (fewer PES headers and stuffed TS packets);
 * below 100 ms so the PCR interval stays within ISO/IEC 13818-1 §2.7.2 when audio carries it.
 */
const AUDIO_PES_MAX_SPAN_MS = 80;
const AUDIO_PES_MAX_BYTES = 16 * 1024;
/** A segment is cut even without a key frame past this length, so memory stays bounded (stalled video). */
const MIN_FORCED_CUT_MS = 30_000;
const FORCED_CUT_FRAGMENTS = 4;
/** Used for the last segment's duration until two video frames give the real interval. */
const DEFAULT_VIDEO_FRAME_MS = 40;
const MS_PER_SECOND = 1000;

interface HeldAudio {
  readonly dtsMs: number;
  readonly payload: Buffer;
  readonly offset: number;
}

/**
 * Cuts one publish (FLV-bodied packets, H.264 + AAC) into MPEG-TS segments for HLS (RFC 8216 §3, §6.2.1):
 * each segment starts with PAT/PMT and, when there is video, with a key frame preceded by SPS/PPS; a new
 * one starts at the first key frame at least `fragmentSeconds` after the current one began. Audio-only
 * streams are cut by time. Never throws: bad packets are counted and dropped.
 */
export class HlsSegmenter {
  readonly counters: HlsSegmenterCounters = {
    malformedPackets: 0,
    unsupportedPackets: 0,
    waitingPackets: 0,
    internalErrors: 0,
  };

  private readonly fragmentMs: number;
  private readonly forcedCutMs: number;
  private readonly timeline: MediaTimeline;
  private readonly muxer = new TsMuxer();
  private readonly annexB = new AnnexBWriter();
  private readonly tag = new TagHeader();
  private sequence: number;
  private video: AvcConfig | undefined;
  private audio: AacConfig | undefined;
  private videoFramesSeen = false;
  /** The video decoder configuration changed: cut (with a discontinuity) at the next key frame. */
  private reconfigured = false;
  private pendingDiscontinuity: boolean;
  private heldAudio: HeldAudio[] = [];

  private open = false;
  private segmentTracks: TsTracks = { video: false, audio: false };
  private segmentStartMs = 0;
  private segmentDiscontinuity = false;
  private segmentFrames = 0;

  private lastVideoDtsMs: number | undefined;
  private videoFrameMs = DEFAULT_VIDEO_FRAME_MS;
  private lastAudioDtsMs: number | undefined;
  private latestEndMs: number;

  private readonly audioPes = Buffer.allocUnsafe(AUDIO_PES_MAX_BYTES);
  private audioPesBytes = 0;
  private audioPesPtsMs = 0;

  constructor(options: HlsSegmenterOptions) {
    this.fragmentMs = options.fragmentSeconds * MS_PER_SECOND;
    this.forcedCutMs = Math.max(MIN_FORCED_CUT_MS, FORCED_CUT_FRAGMENTS * this.fragmentMs);
    this.sequence = options.firstSequence ?? 0;
    this.pendingDiscontinuity = options.discontinuity ?? false;
    this.latestEndMs = options.startTimeMs ?? TIMELINE_START_MS;
    this.timeline = new MediaTimeline(this.latestEndMs);
  }

  /** Sequence number the next segment will get. */
  get nextSequence(): number {
    return this.sequence;
  }

  /** End of the media seen so far on the output timeline, ms: where a following publish can start. */
  get endTimeMs(): number {
    return this.latestEndMs;
  }

  /** Feeds one packet; returns the segment it completed, if any. */
  push(packet: MediaPacket): HlsSegment | undefined {
    try {
      if (packet.type === PacketType.Video) return this.onVideo(packet);
      if (packet.type === PacketType.Audio) return this.onAudio(packet);
    } catch {
      // Every read is bounds-checked; this only guards the public API against a bug on odd input.
      this.counters.internalErrors++;
    }
    return undefined;
  }

  /** Ends the publish: returns the partial segment (if it holds any media) as the last one. */
  flush(): HlsSegment | undefined {
    if (!this.open) return undefined;
    return this.closeSegment(this.latestEndMs);
  }

  private onVideo(packet: MediaPacket): HlsSegment | undefined {
    const payload = packet.payload;
    const tag = readVideoTagHeader(payload, this.tag);
    switch (tag.kind) {
      case TagKind.Malformed:
        this.counters.malformedPackets++;
        return undefined;
      case TagKind.Unsupported:
        this.counters.unsupportedPackets++;
        return undefined;
      case TagKind.Ignored:
        return undefined;
      case TagKind.Config: {
        const config = parseAvcConfig(payload, tag.dataOffset);
        if (!config) {
          this.counters.malformedPackets++;
          return undefined;
        }
        if (this.video && this.open && !sameAvcConfig(this.video, config)) this.reconfigured = true;
        this.video = config;
        return undefined;
      }
      case TagKind.Frame:
        break;
    }
    let dtsMs = this.timeline.map(packet.timestamp);
    const config = this.video;
    if (!config) {
      this.counters.waitingPackets++;
      return undefined;
    }
    this.videoFramesSeen = true;
    const keyFrame = tag.keyFrame;
    const compositionTimeMs = tag.compositionTimeMs;
    if (!this.annexB.convert(payload, tag.dataOffset, config, keyFrame)) {
      this.counters.malformedPackets++;
      return undefined;
    }
    // DTS must increase within a PID (ISO/IEC 13818-1 §2.7.5); repair a publisher that repeats one.
    if (this.lastVideoDtsMs !== undefined && dtsMs <= this.lastVideoDtsMs) {
      dtsMs = this.lastVideoDtsMs + 1;
    }

    let completed: HlsSegment | undefined;
    if (!this.open) {
      if (!keyFrame) {
        this.counters.waitingPackets++;
        return undefined;
      }
      this.openSegment(dtsMs, true);
      this.releaseHeldAudio(dtsMs);
    } else if (keyFrame && (this.reconfigured || !this.segmentTracks.video)) {
      // New SPS/PPS or the first video of an audio-only stream: a new PMT/decoder setup.
      this.pendingDiscontinuity = true;
      completed = this.cut(dtsMs, true);
    } else if (keyFrame && dtsMs - this.segmentStartMs >= this.fragmentMs) {
      completed = this.cut(dtsMs, true);
    } else if (dtsMs - this.segmentStartMs >= this.forcedCutMs) {
      completed = this.cut(dtsMs, this.segmentTracks.video);
    }
    if (!this.segmentTracks.video) return completed;

    const ptsMs = Math.max(dtsMs, dtsMs + compositionTimeMs);
    this.muxer.writeVideo(
      this.annexB.bytes,
      dtsMs * PTS_TICKS_PER_MS,
      ptsMs * PTS_TICKS_PER_MS,
      keyFrame,
    );
    this.segmentFrames++;
    if (this.lastVideoDtsMs !== undefined) this.videoFrameMs = dtsMs - this.lastVideoDtsMs;
    this.lastVideoDtsMs = dtsMs;
    this.noteEnd(dtsMs + this.videoFrameMs);
    return completed;
  }

  private onAudio(packet: MediaPacket): HlsSegment | undefined {
    const payload = packet.payload;
    const tag = readAudioTagHeader(payload, this.tag);
    switch (tag.kind) {
      case TagKind.Malformed:
        this.counters.malformedPackets++;
        return undefined;
      case TagKind.Unsupported:
      case TagKind.Ignored:
        this.counters.unsupportedPackets++;
        return undefined;
      case TagKind.Config: {
        // ADTS repeats the configuration in every frame, so a change needs no new segment.
        const config = parseAacConfig(payload, tag.dataOffset);
        if (!config) this.counters.unsupportedPackets++;
        this.audio = config;
        return undefined;
      }
      case TagKind.Frame:
        break;
    }
    let dtsMs = this.timeline.map(packet.timestamp);
    const rawBytes = payload.length - tag.dataOffset;
    if (!this.audio) {
      this.counters.waitingPackets++;
      return undefined;
    }
    if (rawBytes <= 0 || rawBytes + ADTS_HEADER_BYTES > ADTS_MAX_FRAME_BYTES) {
      this.counters.malformedPackets++;
      return undefined;
    }
    if (this.lastAudioDtsMs !== undefined && dtsMs <= this.lastAudioDtsMs) {
      dtsMs = this.lastAudioDtsMs + 1;
    }

    if (!this.open) {
      this.holdAudio({ dtsMs, payload, offset: tag.dataOffset });
      const first = this.heldAudio[0];
      if (!this.videoFramesSeen && dtsMs - first.dtsMs >= AUDIO_ONLY_PROBE_MS) {
        this.openSegment(first.dtsMs, false);
        this.releaseHeldAudio(first.dtsMs);
      }
      return undefined;
    }
    // Audio configured after the segment's PMT was written: include it from the next key frame on.
    if (!this.segmentTracks.audio) this.reconfigured = true;
    let completed: HlsSegment | undefined;
    if (!this.segmentTracks.video && dtsMs - this.segmentStartMs >= this.fragmentMs) {
      completed = this.cut(dtsMs, false);
    } else if (dtsMs - this.segmentStartMs >= this.forcedCutMs) {
      completed = this.cut(dtsMs, this.segmentTracks.video);
    }
    this.writeAudioFrame(dtsMs, payload, tag.dataOffset);
    return completed;
  }

  private holdAudio(frame: HeldAudio): void {
    if (this.heldAudio.length >= MAX_HELD_AUDIO_FRAMES) this.heldAudio.shift();
    this.heldAudio.push(frame);
  }

  /** Writes the held audio that belongs to a segment starting at `startMs`; drops the rest. */
  private releaseHeldAudio(startMs: number): void {
    const held = this.heldAudio;
    this.heldAudio = [];
    for (const frame of held) {
      if (frame.dtsMs >= startMs) this.writeAudioFrame(frame.dtsMs, frame.payload, frame.offset);
    }
  }

  /** Appends one raw AAC frame, behind its ADTS header, to the pending audio PES. */
  private writeAudioFrame(dtsMs: number, payload: Buffer, offset: number): void {
    const config = this.audio;
    if (!config || !this.segmentTracks.audio) return;
    const rawBytes = payload.length - offset;
    const frameBytes = ADTS_HEADER_BYTES + rawBytes;
    if (
      this.audioPesBytes > 0 &&
      (dtsMs - this.audioPesPtsMs >= AUDIO_PES_MAX_SPAN_MS ||
        this.audioPesBytes + frameBytes > this.audioPes.length)
    ) {
      this.flushAudioPes();
    }
    if (this.audioPesBytes === 0) this.audioPesPtsMs = dtsMs;
    writeAdtsHeader(this.audioPes, this.audioPesBytes, config, rawBytes);
    payload.copy(this.audioPes, this.audioPesBytes + ADTS_HEADER_BYTES, offset);
    this.audioPesBytes += frameBytes;
    this.segmentFrames++;
    this.lastAudioDtsMs = dtsMs;
    this.noteEnd(dtsMs + (AAC_SAMPLES_PER_FRAME * MS_PER_SECOND) / config.sampleRateHz);
  }

  private flushAudioPes(): void {
    if (this.audioPesBytes === 0) return;
    this.muxer.writeAudio(
      this.audioPes.subarray(0, this.audioPesBytes),
      this.audioPesPtsMs * PTS_TICKS_PER_MS,
    );
    this.audioPesBytes = 0;
  }

  private noteEnd(endMs: number): void {
    if (endMs > this.latestEndMs) this.latestEndMs = endMs;
  }

  private openSegment(startMs: number, withVideo: boolean): void {
    this.segmentTracks = { video: withVideo, audio: this.audio !== undefined };
    this.muxer.beginSegment(this.segmentTracks);
    this.open = true;
    this.segmentStartMs = startMs;
    this.segmentFrames = 0;
    this.segmentDiscontinuity = this.pendingDiscontinuity;
    this.pendingDiscontinuity = false;
    this.reconfigured = false;
  }

  /** Closes the current segment at `atMs` and opens the next one there. */
  private cut(atMs: number, withVideo: boolean): HlsSegment | undefined {
    const completed = this.closeSegment(atMs);
    this.openSegment(atMs, withVideo);
    return completed;
  }

  private closeSegment(endMs: number): HlsSegment | undefined {
    this.flushAudioPes();
    this.open = false;
    const { video, audio } = this.muxer.trackBytes;
    const data = this.muxer.endSegment();
    if (this.segmentFrames === 0) return undefined;
    const durationMs = Math.max(endMs - this.segmentStartMs, 1);
    return {
      sequence: this.sequence++,
      durationSeconds: durationMs / MS_PER_SECOND,
      data,
      videoBytes: video,
      audioBytes: audio,
      discontinuity: this.segmentDiscontinuity,
    };
  }
}
