/**
 * Fragmented MP4 (ISO/IEC 14496-12 §8.8) from one publish's FLV-bodied packets, H.264 + AAC: an init
 * segment (fmp4-init.ts) and, on each `flush()`, one movie fragment = `moof` + `mdat`, ready to be an
 * LL-HLS part or (several of them) an HLS fMP4 segment.
 *
 * Samples stay as the publisher sent them: H.264 keeps its AVCC length-prefixed NAL units (the sample
 * format of ISO/IEC 14496-15 §5.3.4.2) and AAC its raw frames, so sample data is the FLV payload minus the
 * tag header, referenced until the fragment is written and then copied once into it.
 *
 * A sample's duration is the next sample's DTS minus its own, so the newest sample of each track is held
 * back until its successor arrives (or until the final flush, which reuses the previous duration).
 * Never throws: malformed and unsupported packets are counted and dropped.
 */

import { MediaPacket, PacketType } from '../../core/media-packet';
import { AAC_SAMPLES_PER_FRAME, AacConfig, parseAacConfig } from '../codecs/aac';
import { AvcConfig, parseAvcConfig } from '../codecs/avc';
import { readAudioTagHeader, readVideoTagHeader, TagHeader, TagKind } from '../flv/flv-tag';
import { MediaTimeline } from '../hls/media-timeline';
import {
  AacTrack,
  AUDIO_TRACK_ID,
  AvcTrack,
  buildInitSegment,
  InitTracks,
  VIDEO_TIMESCALE_HZ,
  VIDEO_TRACK_ID,
} from './fmp4-init';
import { parseSps } from './h264-sps';
import { BOX_HEADER_BYTES, BoxWriter } from './mp4-boxes';

const MS_PER_SECOND = 1000;
const VIDEO_TICKS_PER_MS = VIDEO_TIMESCALE_HZ / MS_PER_SECOND;

/**
 * Sample flags (§8.8.3.1): is_leading(2) depends_on(2) is_depended_on(2) has_redundancy(2) padding(3)
 * is_non_sync_sample(1) degradation_priority(16), after 4 reserved bits.
 */
const SAMPLE_DEPENDS_ON_OTHERS = 1 << 24;
const SAMPLE_DEPENDS_ON_NONE = 2 << 24;
const SAMPLE_IS_NON_SYNC = 1 << 16;
export const SYNC_SAMPLE_FLAGS = SAMPLE_DEPENDS_ON_NONE;
export const NON_SYNC_SAMPLE_FLAGS = SAMPLE_DEPENDS_ON_OTHERS | SAMPLE_IS_NON_SYNC;

/** tfhd flags (§8.8.7.1). */
export const TFHD_DEFAULT_SAMPLE_FLAGS_PRESENT = 0x000020;
export const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
/** trun flags (§8.8.8.1). */
export const TRUN_DATA_OFFSET_PRESENT = 0x000001;
export const TRUN_SAMPLE_DURATION_PRESENT = 0x000100;
export const TRUN_SAMPLE_SIZE_PRESENT = 0x000200;
export const TRUN_SAMPLE_FLAGS_PRESENT = 0x000400;
export const TRUN_SAMPLE_COMPOSITION_OFFSETS_PRESENT = 0x000800;
const VIDEO_TRUN_FLAGS =
  TRUN_DATA_OFFSET_PRESENT |
  TRUN_SAMPLE_DURATION_PRESENT |
  TRUN_SAMPLE_SIZE_PRESENT |
  TRUN_SAMPLE_FLAGS_PRESENT |
  TRUN_SAMPLE_COMPOSITION_OFFSETS_PRESENT;
/** Every AAC frame is a sync sample: flags come once from tfhd's default_sample_flags. */
const AUDIO_TRUN_FLAGS =
  TRUN_DATA_OFFSET_PRESENT | TRUN_SAMPLE_DURATION_PRESENT | TRUN_SAMPLE_SIZE_PRESENT;
/** trun version 1: sample_composition_time_offset is signed (§8.8.8.3). tfdt version 1: 64-bit time. */
const TRUN_VERSION_SIGNED_OFFSETS = 1;
const TFDT_VERSION_64_BIT = 1;

/** Duration given to a track's last sample when no interval was ever seen (25 fps video). */
const DEFAULT_VIDEO_FRAME_MS = 40;
/** Pending media is bounded: a packet that would make the next fragment larger than this is dropped. */
const DEFAULT_MAX_FRAGMENT_BYTES = 64 * 1024 * 1024;
/** trun data_offset is a signed 32-bit field: media plus moof must stay below 2^31 bytes. */
const MAX_DATA_OFFSET_BYTES = 0x7fff_ffff;
/** Room left for moof and the mdat header. */
const FRAGMENT_HEADROOM_BYTES = 1024 * 1024;
/** AVCDecoderConfigurationRecord: numOfSequenceParameterSets at byte 5, then 16-bit length + first SPS. */
const AVC_CONFIG_NUM_SPS_OFFSET = 5;
const AVC_CONFIG_FIRST_SPS_OFFSET = 8;

export interface Fmp4FragmenterOptions {
  /** Output timeline position (ms) of the first frame; default 0 (then tfdt starts at 0). */
  readonly startTimeMs?: number;
  /** Bound on one fragment's media bytes; default 64 MiB. */
  readonly maxFragmentBytes?: number;
}

/** Packets the fragmenter could not use, by reason. */
export interface Fmp4Counters {
  /** Truncated or invalid headers, NAL lengths, configurations, empty frames: dropped. */
  malformedPackets: number;
  /** Codecs not carried here (HEVC, AV1, enhanced RTMP, MP3, ...): skipped. */
  unsupportedPackets: number;
  /** Frames before their decoder configuration, video before a key frame: dropped. */
  waitingPackets: number;
  /** Frames dropped because the pending fragment reached `maxFragmentBytes` (nobody flushed). */
  overflowPackets: number;
  /** Bugs caught so one stream cannot break the server; should stay 0. */
  internalErrors: number;
}

/** One movie fragment (moof + mdat) and what it holds. */
export interface Fmp4Fragment {
  readonly bytes: Buffer;
  /** mfhd sequence_number (§8.8.5), 1 for the first fragment, then +1. */
  readonly sequence: number;
  /** The init segment these samples need, and its version (see `Fmp4Fragmenter.initVersion`). */
  readonly init: Buffer;
  readonly initVersion: number;
  /** First DTS of the fragment (video's when it has video), ms on the output timeline. */
  readonly startDtsMs: number;
  /** Sum of sample durations (video's when it has video), ms. */
  readonly durationMs: number;
  /** Its first video sample is a key frame (audio-only fragments are always independent). */
  readonly independent: boolean;
  readonly videoBytes: number;
  readonly audioBytes: number;
  readonly videoSamples: number;
  readonly audioSamples: number;
  /** videoSamples + audioSamples. */
  readonly samples: number;
}

interface Sample {
  /** Decode time in the track timescale. */
  readonly dts: number;
  duration: number;
  /** PTS - DTS in the track timescale, signed. */
  readonly compositionOffset: number;
  readonly keyFrame: boolean;
  readonly payload: Buffer;
  readonly start: number;
}

/** Samples of one track: `complete` ones have their duration; `held` waits for its successor. */
class TrackQueue {
  complete: Sample[] = [];
  held: Sample | undefined;
  lastDts = -1;
  lastDuration: number;
  bytes = 0;
  /** Sum of the complete samples' durations, ticks. */
  completeTicks = 0;

  constructor(
    readonly timescale: number,
    defaultDuration: number,
  ) {
    this.lastDuration = defaultDuration;
  }

  add(sample: Sample): void {
    const held = this.held;
    if (held) {
      held.duration = sample.dts - held.dts;
      this.lastDuration = held.duration;
      this.complete.push(held);
      this.completeTicks += held.duration;
    }
    this.held = sample;
    this.lastDts = sample.dts;
    this.bytes += sample.payload.length - sample.start;
  }

  /** Moves the held sample to `complete` with the previous duration (end of stream or of an init). */
  release(): void {
    const held = this.held;
    if (!held) return;
    held.duration = this.lastDuration;
    this.complete.push(held);
    this.completeTicks += held.duration;
    this.held = undefined;
  }

  /** Removes the first `count` complete samples. */
  take(count: number): Sample[] {
    const taken = this.complete.splice(0, count);
    for (const s of taken) {
      this.completeTicks -= s.duration;
      this.bytes -= s.payload.length - s.start;
    }
    return taken;
  }
}

interface VideoConfig {
  readonly parsed: AvcConfig;
  readonly track: AvcTrack;
}

interface AudioConfig {
  readonly parsed: AacConfig;
  readonly track: AacTrack;
}

/** channelConfiguration → channel count (ISO/IEC 14496-3 §1.6.3.5, Table 1.19); 7 is 7.1. */
const CHANNELS_BY_CONFIGURATION = [0, 1, 2, 3, 4, 5, 6, 8] as const;

/** Checks that AVCC NAL lengths tile `data[offset..]` exactly and that there is at least one NAL. */
function validAvcc(data: Buffer, offset: number, nalLengthSize: number): boolean {
  let nals = 0;
  let pos = offset;
  while (pos < data.length) {
    if (pos + nalLengthSize > data.length) return false;
    const length = data.readUIntBE(pos, nalLengthSize);
    pos += nalLengthSize;
    if (length > data.length - pos) return false;
    if (length > 0) nals++;
    pos += length;
  }
  return nals > 0;
}

/** The first SPS of an AVCDecoderConfigurationRecord already validated by parseAvcConfig. */
function firstSps(record: Buffer): Buffer | undefined {
  if (record.length < AVC_CONFIG_FIRST_SPS_OFFSET) return undefined;
  if ((record[AVC_CONFIG_NUM_SPS_OFFSET] & 0x1f) === 0) return undefined;
  const length = record.readUInt16BE(AVC_CONFIG_FIRST_SPS_OFFSET - 2);
  if (AVC_CONFIG_FIRST_SPS_OFFSET + length > record.length) return undefined;
  return record.subarray(AVC_CONFIG_FIRST_SPS_OFFSET, AVC_CONFIG_FIRST_SPS_OFFSET + length);
}

export class Fmp4Fragmenter {
  readonly counters: Fmp4Counters = {
    malformedPackets: 0,
    unsupportedPackets: 0,
    waitingPackets: 0,
    overflowPackets: 0,
    internalErrors: 0,
  };

  private readonly timeline: MediaTimeline;
  private readonly maxFragmentBytes: number;
  private readonly tag = new TagHeader();
  private videoConfig: VideoConfig | undefined;
  private audioConfig: AudioConfig | undefined;
  /** A configuration arrived that the published init segment does not describe. */
  private initStale = false;
  private init: Buffer | undefined;
  private initTracks: InitTracks = {};
  private version = 0;
  private video: TrackQueue | undefined;
  private audio: TrackQueue | undefined;
  private videoNeedsKeyFrame = true;
  private sequence = 0;
  /** Fragments closed because the init segment changed under them, handed out first by flush(). */
  private readonly ready: Fmp4Fragment[] = [];

  constructor(options: Fmp4FragmenterOptions = {}) {
    this.timeline = new MediaTimeline(options.startTimeMs ?? 0);
    this.maxFragmentBytes = Math.min(
      options.maxFragmentBytes ?? DEFAULT_MAX_FRAGMENT_BYTES,
      MAX_DATA_OFFSET_BYTES - FRAGMENT_HEADROOM_BYTES,
    );
  }

  /**
   * The current init segment (ftyp + moov). Undefined until the first coded frame after its decoder
   * configuration: only then is the set of tracks known.
   */
  initSegment(): Buffer | undefined {
    return this.init;
  }

  /** 0 before the first init segment; +1 each time a new configuration or track changes it. */
  get initVersion(): number {
    return this.version;
  }

  /** Duration of what `flush()` would emit now (video's when there is video), ms. */
  get pendingDurationMs(): number {
    const q = this.video ?? this.audio;
    return q ? (q.completeTicks * MS_PER_SECOND) / q.timescale : 0;
  }

  /** What `flush()` would emit now starts with a video key frame (always true for audio only). */
  get startsWithKeyframe(): boolean {
    if (!this.video) return true;
    return this.video.complete[0]?.keyFrame === true;
  }

  /**
   * The newest video sample, held back for its duration, is a key frame: a `flush()` now ends right
   * before it, so the next fragment (and a new segment) starts with it.
   */
  get holdingKeyframe(): boolean {
    return this.video?.held?.keyFrame === true;
  }

  /** Media bytes waiting for a fragment (held samples included). */
  get pendingBytes(): number {
    return (this.video?.bytes ?? 0) + (this.audio?.bytes ?? 0);
  }

  push(packet: MediaPacket): void {
    try {
      if (packet.type === PacketType.Video) this.onVideo(packet);
      else if (packet.type === PacketType.Audio) this.onAudio(packet);
    } catch {
      // Every read is bounds-checked; this only guards the public API against a bug on odd input.
      this.counters.internalErrors++;
    }
  }

  /**
   * Cuts one fragment of every complete sample (with video: audio up to the held video sample's DTS, so
   * both tracks cover the same span). `final` also takes the held samples (end of stream). Fragments
   * closed by an init segment change come out first; at the end call `flush(true)` until undefined.
   */
  flush(final = false): Fmp4Fragment | undefined {
    try {
      const ready = this.ready.shift();
      if (ready) return ready;
      if (final) {
        this.video?.release();
        this.audio?.release();
      }
      return this.cut();
    } catch {
      this.counters.internalErrors++;
      return undefined;
    }
  }

  private onVideo(packet: MediaPacket): void {
    const payload = packet.payload;
    const tag = readVideoTagHeader(payload, this.tag);
    switch (tag.kind) {
      case TagKind.Malformed:
        this.counters.malformedPackets++;
        return;
      case TagKind.Unsupported:
        this.counters.unsupportedPackets++;
        return;
      case TagKind.Ignored:
        return;
      case TagKind.Config:
        this.onVideoConfig(payload.subarray(tag.dataOffset));
        return;
      case TagKind.Frame:
        break;
    }
    const config = this.videoConfig;
    if (!config || (this.videoNeedsKeyFrame && !tag.keyFrame)) {
      this.counters.waitingPackets++;
      return;
    }
    if (!validAvcc(payload, tag.dataOffset, config.parsed.nalLengthSize)) {
      this.counters.malformedPackets++;
      return;
    }
    const keyFrame = tag.keyFrame;
    const compositionTimeMs = tag.compositionTimeMs;
    if (!this.admit(payload.length - tag.dataOffset)) return;
    const queue = this.video;
    if (!queue) return;
    this.videoNeedsKeyFrame = false;
    let dts = this.timeline.map(packet.timestamp) * VIDEO_TICKS_PER_MS;
    // DTS must increase within a track (a zero duration is no sample timing); repair by 1 ms.
    if (queue.lastDts >= 0 && dts <= queue.lastDts) dts = queue.lastDts + VIDEO_TICKS_PER_MS;
    queue.add({
      dts: Math.max(dts, 0),
      duration: 0,
      compositionOffset: compositionTimeMs * VIDEO_TICKS_PER_MS,
      keyFrame,
      payload,
      start: tag.dataOffset,
    });
  }

  private onVideoConfig(record: Buffer): void {
    const parsed = parseAvcConfig(record, 0);
    const sps = parsed && firstSps(record);
    const info = sps && parseSps(sps);
    if (!parsed || !info) {
      this.counters.malformedPackets++;
      return;
    }
    if (this.videoConfig?.track.avcDecoderConfig.equals(record)) return;
    this.videoConfig = {
      parsed,
      // A copy: the init segment outlives the packet, and equality is checked against it.
      track: {
        codec: 'avc1',
        width: info.width,
        height: info.height,
        avcDecoderConfig: Buffer.from(record),
      },
    };
    this.initStale = true;
    this.videoNeedsKeyFrame = true;
  }

  private onAudio(packet: MediaPacket): void {
    const payload = packet.payload;
    const tag = readAudioTagHeader(payload, this.tag);
    switch (tag.kind) {
      case TagKind.Malformed:
        this.counters.malformedPackets++;
        return;
      case TagKind.Unsupported:
        this.counters.unsupportedPackets++;
        return;
      case TagKind.Ignored:
        return;
      case TagKind.Config:
        this.onAudioConfig(payload.subarray(tag.dataOffset));
        return;
      case TagKind.Frame:
        break;
    }
    const config = this.audioConfig;
    if (!config) {
      this.counters.waitingPackets++;
      return;
    }
    if (payload.length <= tag.dataOffset) {
      this.counters.malformedPackets++;
      return;
    }
    if (!this.admit(payload.length - tag.dataOffset)) return;
    const queue = this.audio;
    if (!queue) return;
    const rate = queue.timescale;
    let dts = Math.round((this.timeline.map(packet.timestamp) * rate) / MS_PER_SECOND);
    // Millisecond timestamps are rounded: when this one is within half a frame of where the previous
    // frame ends, it is that exact sample position, so durations stay exactly 1024 samples.
    if (queue.lastDts >= 0) {
      const expected = queue.lastDts + AAC_SAMPLES_PER_FRAME;
      if (Math.abs(dts - expected) <= AAC_SAMPLES_PER_FRAME / 2) dts = expected;
      else if (dts <= queue.lastDts) dts = queue.lastDts + 1;
    }
    queue.add({
      dts: Math.max(dts, 0),
      duration: 0,
      compositionOffset: 0,
      keyFrame: true,
      payload,
      start: tag.dataOffset,
    });
  }

  private onAudioConfig(asc: Buffer): void {
    const parsed = parseAacConfig(asc, 0);
    if (!parsed) {
      this.counters.malformedPackets++;
      return;
    }
    if (this.audioConfig?.track.audioSpecificConfig.equals(asc)) return;
    this.audioConfig = {
      parsed,
      track: {
        codec: 'mp4a',
        sampleRateHz: parsed.sampleRateHz,
        channelCount: CHANNELS_BY_CONFIGURATION[parsed.channelConfiguration],
        audioSpecificConfig: Buffer.from(asc),
      },
    };
    this.initStale = true;
  }

  /**
   * Called for every usable frame: publishes a new init segment when the configurations changed (closing
   * the samples of the previous one into a fragment first), then checks the size bound.
   */
  private admit(bytes: number): boolean {
    if (!this.init || this.initStale) this.publishInit();
    if (this.pendingBytes + bytes > this.maxFragmentBytes) {
      this.counters.overflowPackets++;
      return false;
    }
    return true;
  }

  private publishInit(): void {
    if (this.video || this.audio) {
      this.video?.release();
      this.audio?.release();
      const closed = this.cut();
      if (closed) this.ready.push(closed);
    }
    const video = this.videoConfig?.track;
    const audio = this.audioConfig?.track;
    this.initTracks = { video, audio };
    this.init = buildInitSegment(this.initTracks);
    this.version++;
    this.initStale = false;
    // Timelines continue across init versions; only the timescale of a changed audio rate restarts.
    const previousVideo = this.video;
    const previousAudio = this.audio;
    this.video = video
      ? new TrackQueue(VIDEO_TIMESCALE_HZ, DEFAULT_VIDEO_FRAME_MS * VIDEO_TICKS_PER_MS)
      : undefined;
    if (this.video && previousVideo) {
      this.video.lastDts = previousVideo.lastDts;
      this.video.lastDuration = previousVideo.lastDuration;
    }
    this.audio = audio ? new TrackQueue(audio.sampleRateHz, AAC_SAMPLES_PER_FRAME) : undefined;
    if (this.audio && previousAudio && previousAudio.timescale === audio?.sampleRateHz) {
      this.audio.lastDts = previousAudio.lastDts;
    }
  }

  /** Builds a fragment from the complete samples; undefined when there are none. */
  private cut(): Fmp4Fragment | undefined {
    const init = this.init;
    if (!init) return undefined;
    const video = this.video;
    const audio = this.audio;
    const videoCount = video ? video.complete.length : 0;
    let audioCount = audio ? audio.complete.length : 0;
    if (video && audio && video.held) {
      // Audio only up to where the next fragment's video begins.
      const cutSeconds = video.held.dts / video.timescale;
      audioCount = 0;
      while (
        audioCount < audio.complete.length &&
        audio.complete[audioCount].dts / audio.timescale < cutSeconds
      ) {
        audioCount++;
      }
    }
    if (videoCount === 0 && audioCount === 0) return undefined;
    const videoSamples = video ? video.take(videoCount) : [];
    const audioSamples = audio ? audio.take(audioCount) : [];
    this.sequence++;
    const bytes = writeFragment(this.sequence, videoSamples, audioSamples);
    const main = videoSamples.length > 0 ? videoSamples : audioSamples;
    const timescale = videoSamples.length > 0 ? VIDEO_TIMESCALE_HZ : (audio?.timescale ?? 1);
    let ticks = 0;
    for (const s of main) ticks += s.duration;
    const videoBytes = payloadBytes(videoSamples);
    const audioBytes = payloadBytes(audioSamples);
    return {
      bytes,
      sequence: this.sequence,
      init,
      initVersion: this.version,
      startDtsMs: (main[0].dts * MS_PER_SECOND) / timescale,
      durationMs: (ticks * MS_PER_SECOND) / timescale,
      independent: videoSamples.length > 0 ? videoSamples[0].keyFrame : true,
      videoBytes,
      audioBytes,
      videoSamples: videoSamples.length,
      audioSamples: audioSamples.length,
      samples: videoSamples.length + audioSamples.length,
    };
  }
}

function payloadBytes(samples: readonly Sample[]): number {
  let bytes = 0;
  for (const s of samples) bytes += s.payload.length - s.start;
  return bytes;
}

interface TrackRun {
  readonly trackId: number;
  readonly samples: readonly Sample[];
  readonly video: boolean;
}

/** moof (§8.8.4) + mdat (§8.1.1). Video's samples come first in mdat, then audio's. */
function writeFragment(
  sequence: number,
  videoSamples: readonly Sample[],
  audioSamples: readonly Sample[],
): Buffer {
  const runs: TrackRun[] = [];
  if (videoSamples.length > 0)
    runs.push({ trackId: VIDEO_TRACK_ID, samples: videoSamples, video: true });
  if (audioSamples.length > 0)
    runs.push({ trackId: AUDIO_TRACK_ID, samples: audioSamples, video: false });
  // trun data_offset is relative to the moof (tfhd default-base-is-moof), so it needs the moof size:
  // measure the moof once with placeholder offsets (same size), then write moof + mdat in one pass.
  const moofBytes = BoxWriter.measure((w) => writeMoof(w, sequence, runs, 0));
  return BoxWriter.write((w) => {
    writeMoof(w, sequence, runs, moofBytes + BOX_HEADER_BYTES);
    w.box('mdat', () => {
      for (const run of runs) for (const s of run.samples) w.bytes(s.payload, s.start);
    });
  });
}

function writeMoof(
  w: BoxWriter,
  sequence: number,
  runs: readonly TrackRun[],
  firstDataOffset: number,
): void {
  let dataOffset = firstDataOffset;
  w.box('moof', () => {
    // mfhd (§8.8.5).
    w.fullBox('mfhd', 0, 0, () => w.u32(sequence));
    for (const run of runs) {
      w.box('traf', () => {
        // tfhd (§8.8.7): data offsets count from this moof; audio states its one sample flags value.
        const tfhdFlags =
          TFHD_DEFAULT_BASE_IS_MOOF | (run.video ? 0 : TFHD_DEFAULT_SAMPLE_FLAGS_PRESENT);
        w.fullBox('tfhd', 0, tfhdFlags, () => {
          w.u32(run.trackId);
          if (!run.video) w.u32(SYNC_SAMPLE_FLAGS);
        });
        // tfdt version 1 (§8.8.12): 64-bit baseMediaDecodeTime, the first sample's DTS.
        w.fullBox('tfdt', TFDT_VERSION_64_BIT, 0, () => w.u64(run.samples[0].dts));
        // trun (§8.8.8): per-sample duration and size; video also flags and signed composition offsets.
        const flags = run.video ? VIDEO_TRUN_FLAGS : AUDIO_TRUN_FLAGS;
        w.fullBox('trun', run.video ? TRUN_VERSION_SIGNED_OFFSETS : 0, flags, () => {
          w.u32(run.samples.length);
          w.i32(dataOffset);
          for (const s of run.samples) {
            w.u32(s.duration);
            w.u32(s.payload.length - s.start);
            if (run.video) {
              w.u32(s.keyFrame ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS);
              w.i32(s.compositionOffset);
            }
          }
        });
        dataOffset += payloadBytes(run.samples);
      });
    }
  });
}
