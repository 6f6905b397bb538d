/**
 * The initialization segment of a fragmented MP4 (ISO/IEC 14496-12 §8.8 movie fragments; the CMAF header
 * and the HLS `#EXT-X-MAP`): `ftyp` + a `moov` whose tracks have empty sample tables and an `mvex` that
 * announces fragments. The samples themselves come in `moof` + `mdat` pairs (fmp4-fragmenter.ts).
 */

import { BoxWriter } from './mp4-boxes';

/** Track IDs (§8.3.2 tkhd track_ID, never 0). */
export const VIDEO_TRACK_ID = 1;
export const AUDIO_TRACK_ID = 2;
const NEXT_TRACK_ID = 3;
/** Video media timescale: 90 kHz, so FLV milliseconds convert exactly (×90). */
export const VIDEO_TIMESCALE_HZ = 90_000;
/** Movie timescale (mvhd): milliseconds; nothing is timed in it since durations are 0 (unknown, live). */
export const MOVIE_TIMESCALE_HZ = 1000;

/**
 * ftyp (§4.3): major brand 'iso6' (the ISO/IEC 14496-12 brand whose feature set includes tfdt and trun
 * version 1, i.e. signed composition offsets), compatible 'iso6', 'cmfc' (CMAF track, ISO/IEC 23000-19
 * §7.2, which HLS fMP4 segments follow) and 'mp41' for older readers.
 */
export const MAJOR_BRAND = 'iso6';
export const COMPATIBLE_BRANDS: readonly string[] = ['iso6', 'cmfc', 'mp41'];
const MINOR_VERSION = 0;

/** tkhd flags (§8.3.2.3): track_enabled | track_in_movie. */
const TKHD_FLAGS_ENABLED_IN_MOVIE = 0x000003;
/** 'url ' flag 1: media data is in the same file (§8.7.2.3). */
const DREF_SELF_CONTAINED = 0x000001;
/** vmhd has flags 1 (§12.1.2.2). */
const VMHD_FLAGS = 0x000001;
/** Unity transformation matrix (§8.2.2.3), 16.16 and 2.30 fixed point. */
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000] as const;
const FIXED_16_16_ONE = 0x00010000;
const FIXED_8_8_ONE = 0x0100;
/** ISO-639-2/T "und", packed as three 5-bit letters (§8.4.2.3). */
const LANGUAGE_UND = ((0x75 - 0x60) << 10) | ((0x6e - 0x60) << 5) | (0x64 - 0x60);
/** VisualSampleEntry constants (§12.1.3.2): 72 dpi, one frame per sample, 24-bit colour. */
const RESOLUTION_72_DPI = 0x00480000;
const COMPRESSOR_NAME_BYTES = 32;
const VISUAL_DEPTH_COLOUR = 0x0018;
const AUDIO_SAMPLE_SIZE_BITS = 16;
/** SampleEntry (§8.5.2.2): six reserved bytes then data_reference_index 1 (the one dref entry). */
const SAMPLE_ENTRY_RESERVED_BYTES = 6;
const DATA_REFERENCE_INDEX = 1;
/** AudioSampleEntry samplerate is 16.16 fixed point, so rates above 65535 Hz cannot be written there. */
const MAX_SAMPLE_ENTRY_RATE_HZ = 0xffff;

/** MPEG-4 descriptor tags and values (ISO/IEC 14496-1 §7.2.6), as esds carries them (ISO/IEC 14496-14). */
const ES_DESCRIPTOR_TAG = 0x03;
const DECODER_CONFIG_DESCRIPTOR_TAG = 0x04;
const DECODER_SPECIFIC_INFO_TAG = 0x05;
const SL_CONFIG_DESCRIPTOR_TAG = 0x06;
/** objectTypeIndication 0x40: Audio ISO/IEC 14496-3; streamType 5 (audio) << 2 | upStream 0 | reserved 1. */
const OBJECT_TYPE_AAC = 0x40;
const STREAM_TYPE_AUDIO_BYTE = (0x05 << 2) | 0x01;
/** SLConfigDescriptor predefined = 2 (reserved for use in MP4 files). */
const SL_PREDEFINED_MP4 = 0x02;
/** ES_Descriptor: ES_ID (2) + flags (1); DecoderConfigDescriptor fixed part: 13 bytes. */
const ES_DESCRIPTOR_FIXED_BYTES = 3;
const DECODER_CONFIG_FIXED_BYTES = 13;
const SL_CONFIG_BYTES = 1;
/** Descriptor sizes are written in the 7-bits-per-byte expandable form (§8.3.3), up to 4 bytes. */
const MAX_DESCRIPTOR_BODY_BYTES = 0x0fff_ffff;

export interface AvcTrack {
  readonly codec: 'avc1';
  /** Displayed size from the SPS. */
  readonly width: number;
  readonly height: number;
  /** The AVCDecoderConfigurationRecord as the publisher sent it (ISO/IEC 14496-15 §5.2.4.1): avcC's body. */
  readonly avcDecoderConfig: Buffer;
}

export interface AacTrack {
  readonly codec: 'mp4a';
  readonly sampleRateHz: number;
  readonly channelCount: number;
  /** The AudioSpecificConfig as the publisher sent it (ISO/IEC 14496-3 §1.6.2.1): esds DecoderSpecificInfo. */
  readonly audioSpecificConfig: Buffer;
}

export interface InitTracks {
  readonly video?: AvcTrack;
  readonly audio?: AacTrack;
}

/** Timescale of the audio track: its sample rate, so one AAC frame is exactly 1024 ticks. */
export function audioTimescale(track: AacTrack): number {
  return track.sampleRateHz;
}

/** ftyp + moov for the tracks present (at least one). */
export function buildInitSegment(tracks: InitTracks): Buffer {
  if (!tracks.video && !tracks.audio) throw new RangeError('an init segment needs a track');
  return BoxWriter.write((w) => {
    writeFtyp(w);
    w.box('moov', () => {
      writeMvhd(w);
      if (tracks.video) writeTrak(w, VIDEO_TRACK_ID, VIDEO_TIMESCALE_HZ, tracks.video);
      if (tracks.audio) writeTrak(w, AUDIO_TRACK_ID, audioTimescale(tracks.audio), tracks.audio);
      // mvex (§8.8.1): the movie continues in fragments; one trex (§8.8.3) per track, defaults all 0
      // because every trun states durations, sizes and flags itself.
      w.box('mvex', () => {
        for (const id of [tracks.video && VIDEO_TRACK_ID, tracks.audio && AUDIO_TRACK_ID]) {
          if (!id) continue;
          w.fullBox('trex', 0, 0, () => {
            w.u32(id);
            w.u32(1); // default_sample_description_index
            w.u32(0); // default_sample_duration
            w.u32(0); // default_sample_size
            w.u32(0); // default_sample_flags
          });
        }
      });
    });
  });
}

function writeFtyp(w: BoxWriter): void {
  w.box('ftyp', () => {
    w.fourcc(MAJOR_BRAND);
    w.u32(MINOR_VERSION);
    for (const brand of COMPATIBLE_BRANDS) w.fourcc(brand);
  });
}

function writeMatrix(w: BoxWriter): void {
  for (const value of UNITY_MATRIX) w.u32(value);
}

/** mvhd version 0 (§8.2.2): times 0 (unknown), duration 0 (fragmented, live). */
function writeMvhd(w: BoxWriter): void {
  w.fullBox('mvhd', 0, 0, () => {
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(MOVIE_TIMESCALE_HZ);
    w.u32(0); // duration
    w.u32(FIXED_16_16_ONE); // rate 1.0
    w.u16(FIXED_8_8_ONE); // volume 1.0
    w.zeros(2 + 4 * 2); // reserved
    writeMatrix(w);
    w.zeros(4 * 6); // pre_defined
    w.u32(NEXT_TRACK_ID);
  });
}

function writeTrak(
  w: BoxWriter,
  trackId: number,
  timescale: number,
  track: AvcTrack | AacTrack,
): void {
  const isVideo = track.codec === 'avc1';
  w.box('trak', () => {
    // tkhd version 0 (§8.3.2): width/height 16.16 for video, volume 1.0 for audio.
    w.fullBox('tkhd', 0, TKHD_FLAGS_ENABLED_IN_MOVIE, () => {
      w.u32(0); // creation_time
      w.u32(0); // modification_time
      w.u32(trackId);
      w.u32(0); // reserved
      w.u32(0); // duration
      w.zeros(4 * 2); // reserved
      w.u16(0); // layer
      w.u16(0); // alternate_group
      w.u16(isVideo ? 0 : FIXED_8_8_ONE); // volume
      w.u16(0); // reserved
      writeMatrix(w);
      w.u32(isVideo ? track.width * FIXED_16_16_ONE : 0);
      w.u32(isVideo ? track.height * FIXED_16_16_ONE : 0);
    });
    w.box('mdia', () => {
      // mdhd version 0 (§8.4.2).
      w.fullBox('mdhd', 0, 0, () => {
        w.u32(0); // creation_time
        w.u32(0); // modification_time
        w.u32(timescale);
        w.u32(0); // duration
        w.u16(LANGUAGE_UND);
        w.u16(0); // pre_defined
      });
      // hdlr (§8.4.3).
      w.fullBox('hdlr', 0, 0, () => {
        w.u32(0); // pre_defined
        w.fourcc(isVideo ? 'vide' : 'soun');
        w.zeros(4 * 3); // reserved
        w.bytes(Buffer.from(isVideo ? 'VideoHandler\0' : 'SoundHandler\0', 'latin1'));
      });
      w.box('minf', () => {
        if (isVideo) {
          // vmhd (§12.1.2): graphicsmode 0 (copy), opcolor 0.
          w.fullBox('vmhd', 0, VMHD_FLAGS, () => w.zeros(2 + 2 * 3));
        } else {
          // smhd (§12.2.2): balance 0 (centre), reserved.
          w.fullBox('smhd', 0, 0, () => w.zeros(2 + 2));
        }
        // dinf/dref (§8.7.1, §8.7.2): one self-contained 'url ' entry.
        w.box('dinf', () =>
          w.fullBox('dref', 0, 0, () => {
            w.u32(1);
            w.fullBox('url ', 0, DREF_SELF_CONTAINED, () => undefined);
          }),
        );
        w.box('stbl', () => {
          // stsd (§8.5.2) with the one sample entry, then empty tables: samples are in fragments.
          w.fullBox('stsd', 0, 0, () => {
            w.u32(1);
            if (track.codec === 'avc1') writeAvc1(w, track);
            else writeMp4a(w, track);
          });
          w.fullBox('stts', 0, 0, () => w.u32(0)); // §8.6.1.2, entry_count 0
          w.fullBox('stsc', 0, 0, () => w.u32(0)); // §8.7.4, entry_count 0
          w.fullBox('stsz', 0, 0, () => {
            w.u32(0); // §8.7.3, sample_size
            w.u32(0); // sample_count
          });
          w.fullBox('stco', 0, 0, () => w.u32(0)); // §8.7.5, entry_count 0
        });
      });
    });
  });
}

function writeSampleEntryHeader(w: BoxWriter): void {
  w.zeros(SAMPLE_ENTRY_RESERVED_BYTES);
  w.u16(DATA_REFERENCE_INDEX);
}

/** avc1 VisualSampleEntry (§12.1.3) + avcC (ISO/IEC 14496-15 §5.3.4.1). */
function writeAvc1(w: BoxWriter, track: AvcTrack): void {
  w.box('avc1', () => {
    writeSampleEntryHeader(w);
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    w.zeros(4 * 3); // pre_defined
    w.u16(track.width);
    w.u16(track.height);
    w.u32(RESOLUTION_72_DPI); // horizresolution
    w.u32(RESOLUTION_72_DPI); // vertresolution
    w.u32(0); // reserved
    w.u16(1); // frame_count
    w.zeros(COMPRESSOR_NAME_BYTES); // compressorname: empty Pascal string
    w.u16(VISUAL_DEPTH_COLOUR);
    w.i16(-1); // pre_defined
    w.box('avcC', () => w.bytes(track.avcDecoderConfig));
  });
}

/** Bytes of the expandable size field of an MPEG-4 descriptor (ISO/IEC 14496-1 §8.3.3). */
function descriptorSizeBytes(bodyBytes: number): number {
  if (bodyBytes > MAX_DESCRIPTOR_BODY_BYTES) throw new RangeError('descriptor too large');
  let count = 1;
  while (bodyBytes >= 1 << (7 * count)) count++;
  return count;
}

function writeDescriptorHeader(w: BoxWriter, tag: number, bodyBytes: number): void {
  w.u8(tag);
  const count = descriptorSizeBytes(bodyBytes);
  for (let i = count - 1; i >= 0; i--) {
    const sevenBits = Math.floor(bodyBytes / 2 ** (7 * i)) & 0x7f;
    w.u8(i > 0 ? 0x80 | sevenBits : sevenBits);
  }
}

/** mp4a AudioSampleEntry (§12.2.3) + esds (ISO/IEC 14496-14: an ES_Descriptor, 14496-1 §7.2.6.5). */
function writeMp4a(w: BoxWriter, track: AacTrack): void {
  w.box('mp4a', () => {
    writeSampleEntryHeader(w);
    w.zeros(4 * 2); // reserved
    w.u16(track.channelCount);
    w.u16(AUDIO_SAMPLE_SIZE_BITS);
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    // samplerate 16.16; a rate that does not fit is 0 and the AudioSpecificConfig is authoritative.
    w.u32(
      track.sampleRateHz <= MAX_SAMPLE_ENTRY_RATE_HZ ? track.sampleRateHz * FIXED_16_16_ONE : 0,
    );
    w.fullBox('esds', 0, 0, () => {
      const dsiBytes = track.audioSpecificConfig.length;
      const dsiTotal = 1 + descriptorSizeBytes(dsiBytes) + dsiBytes;
      const decoderConfigBody = DECODER_CONFIG_FIXED_BYTES + dsiTotal;
      const decoderConfigTotal = 1 + descriptorSizeBytes(decoderConfigBody) + decoderConfigBody;
      const slTotal = 1 + descriptorSizeBytes(SL_CONFIG_BYTES) + SL_CONFIG_BYTES;
      const esBody = ES_DESCRIPTOR_FIXED_BYTES + decoderConfigTotal + slTotal;
      writeDescriptorHeader(w, ES_DESCRIPTOR_TAG, esBody);
      w.u16(0); // ES_ID: 0, a file identifies streams by track (ISO/IEC 14496-14)
      w.u8(0); // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
      writeDescriptorHeader(w, DECODER_CONFIG_DESCRIPTOR_TAG, decoderConfigBody);
      w.u8(OBJECT_TYPE_AAC);
      w.u8(STREAM_TYPE_AUDIO_BYTE);
      w.u24(0); // bufferSizeDB: unknown
      w.u32(0); // maxBitrate: unknown
      w.u32(0); // avgBitrate: unknown (variable)
      writeDescriptorHeader(w, DECODER_SPECIFIC_INFO_TAG, dsiBytes);
      w.bytes(track.audioSpecificConfig);
      writeDescriptorHeader(w, SL_CONFIG_DESCRIPTOR_TAG, SL_CONFIG_BYTES);
      w.u8(SL_PREDEFINED_MP4);
    });
  });
}
