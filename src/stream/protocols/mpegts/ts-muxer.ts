import { crc32Mpeg2 } from './mpeg-crc32';

/**
 * MPEG-2 transport stream writer for one H.264 + AAC program (ISO/IEC 13818-1), shaped for HLS
 * (RFC 8216 §3.2): each segment starts with PAT + PMT and every PES starts a new TS packet.
 *
 * Packets are written straight into one growable working buffer that is reused from segment to segment,
 * so a steady stream allocates only the finished segment's Buffer.
 */

export const TS_PACKET_SIZE_BYTES = 188;
const TS_HEADER_BYTES = 4;
const TS_PAYLOAD_BYTES = TS_PACKET_SIZE_BYTES - TS_HEADER_BYTES;
export const TS_SYNC_BYTE = 0x47;
/** Presentation/decoding timestamps and PCR base tick at 90 kHz (ISO/IEC 13818-1 §2.4.3.7). */
export const PTS_HZ = 90_000;
export const PTS_TICKS_PER_MS = PTS_HZ / 1000;
/** PTS, DTS and PCR base are 33-bit counters. */
const PTS_RANGE = 2 ** 33;
/** PCR = base × 300 + extension, at 27 MHz (§2.4.2.2); we only use the base. */
const PCR_BYTES = 6;
/**
 * PCR runs this far behind the DTS of the PES that carries it, so that audio frames collected into a PES
 * slightly after their DTS are not already "late" for the system target decoder.
 */
const PCR_LEAD_TICKS = 200 * PTS_TICKS_PER_MS;

export const PID_PAT = 0x0000;
export const PID_PMT = 0x1000;
export const PID_VIDEO = 0x0100;
export const PID_AUDIO = 0x0101;
const PROGRAM_NUMBER = 1;
const TRANSPORT_STREAM_ID = 1;
/** stream_type values (§2.4.4.9 Table 2-34, amended by ISO/IEC 13818-1 for AVC and ADTS AAC). */
export const STREAM_TYPE_H264 = 0x1b;
export const STREAM_TYPE_AAC_ADTS = 0x0f;
/** PES stream_id: first video stream 0xE0, first audio stream 0xC0 (§2.4.3.7 Table 2-22). */
export const STREAM_ID_VIDEO = 0xe0;
export const STREAM_ID_AUDIO = 0xc0;
const TABLE_ID_PAT = 0x00;
const TABLE_ID_PMT = 0x02;
const CRC_BYTES = 4;
const PES_START_CODE_PREFIX_BYTES = 3;
/** Fixed PES header: start code (3) + stream_id (1) + PES_packet_length (2) + 2 flag bytes + header_data_length (1). */
const PES_FIXED_HEADER_BYTES = 9;
const PES_TIMESTAMP_BYTES = 5;
/** PES_packet_length counts the bytes after itself and must fit in 16 bits; 0 = unbounded (video only). */
const PES_MAX_PACKET_LENGTH = 0xffff;
const PES_LENGTH_FIELD_END = 6;
/** 4-bit prefixes of PTS/DTS fields (§2.4.3.7): '0010' PTS only, '0011' PTS of a pair, '0001' DTS. */
const PTS_ONLY_PREFIX = 0x2;
const PTS_WITH_DTS_PREFIX = 0x3;
const DTS_PREFIX = 0x1;
/** adaptation_field_control (§2.4.3.2 Table 2-5). */
const AFC_PAYLOAD_ONLY = 0x1;
const AFC_ADAPTATION_AND_PAYLOAD = 0x3;
/** Adaptation field flag bits (§2.4.3.4). */
const AF_RANDOM_ACCESS_INDICATOR = 0x40;
const AF_PCR_FLAG = 0x10;
const STUFFING_BYTE = 0xff;
const INITIAL_WORKING_BYTES = 256 * 1024;

/** Elementary streams present in a segment (they make the PMT). */
export interface TsTracks {
  readonly video: boolean;
  readonly audio: boolean;
}

/** Reduces a 90 kHz timestamp to the 33-bit field range (timestamps may be any integer). */
function toPtsField(ticks: number): number {
  const value = ticks % PTS_RANGE;
  return value < 0 ? value + PTS_RANGE : value;
}

/**
 * Writes a PTS or DTS field (§2.4.3.7): prefix(4) ts[32..30] marker ts[29..15] marker ts[14..0] marker.
 * `>>>` works modulo 2^32, which is exactly what the lower two groups need.
 */
function writeTimestamp(out: Buffer, offset: number, prefix: number, ticks: number): void {
  const value = toPtsField(ticks);
  const high = Math.floor(value / 2 ** 30) & 0x07;
  const middle = (value >>> 15) & 0x7fff;
  const low = value & 0x7fff;
  out[offset] = (prefix << 4) | (high << 1) | 0x01;
  out[offset + 1] = middle >> 7;
  out[offset + 2] = ((middle & 0x7f) << 1) | 0x01;
  out[offset + 3] = low >> 7;
  out[offset + 4] = ((low & 0x7f) << 1) | 0x01;
}

/** program_clock_reference_base(33) reserved(6) extension(9) (§2.4.3.5), extension 0. */
function writePcr(out: Buffer, offset: number, ticks: number): void {
  const base = toPtsField(ticks);
  out[offset] = Math.floor(base / 2 ** 25) & 0xff;
  out[offset + 1] = (base >>> 17) & 0xff;
  out[offset + 2] = (base >>> 9) & 0xff;
  out[offset + 3] = (base >>> 1) & 0xff;
  out[offset + 4] = ((base & 0x01) << 7) | 0x7e;
  out[offset + 5] = 0x00;
}

/**
 * One PSI section in one TS packet (pointer_field 0, §2.4.4.2) with its CRC, padded with 0xFF.
 * `body` is everything after section_length up to (not including) the CRC.
 */
function buildPsiPacket(pid: number, tableId: number, body: readonly number[]): Buffer {
  const packet = Buffer.alloc(TS_PACKET_SIZE_BYTES, STUFFING_BYTE);
  packet[0] = TS_SYNC_BYTE;
  packet[1] = 0x40 | (pid >> 8); // payload_unit_start_indicator = 1
  packet[2] = pid & 0xff;
  packet[3] = AFC_PAYLOAD_ONLY << 4; // continuity counter patched per write
  packet[4] = 0x00; // pointer_field
  const sectionStart = 5;
  const sectionLength = body.length + CRC_BYTES;
  packet[sectionStart] = tableId;
  // section_syntax_indicator 1, '0', reserved '11', section_length (12 bits).
  packet[sectionStart + 1] = 0xb0 | (sectionLength >> 8);
  packet[sectionStart + 2] = sectionLength & 0xff;
  packet.set(body, sectionStart + 3);
  const crcStart = sectionStart + 3 + body.length;
  packet.writeUInt32BE(crc32Mpeg2(packet, sectionStart, crcStart), crcStart);
  return packet;
}

/** program_association_section (§2.4.4.3): one program, its PMT on PID_PMT. */
function buildPat(): Buffer {
  return buildPsiPacket(PID_PAT, TABLE_ID_PAT, [
    TRANSPORT_STREAM_ID >> 8,
    TRANSPORT_STREAM_ID & 0xff,
    0xc1, // reserved '11', version_number 0, current_next_indicator 1
    0x00, // section_number
    0x00, // last_section_number
    PROGRAM_NUMBER >> 8,
    PROGRAM_NUMBER & 0xff,
    0xe0 | (PID_PMT >> 8), // reserved '111' + program_map_PID
    PID_PMT & 0xff,
  ]);
}

/** TS_program_map_section (§2.4.4.8). PCR on the video PID, or on audio when there is no video. */
function buildPmt(tracks: TsTracks, version: number): Buffer {
  const pcrPid = tracks.video ? PID_VIDEO : PID_AUDIO;
  const body = [
    PROGRAM_NUMBER >> 8,
    PROGRAM_NUMBER & 0xff,
    0xc1 | ((version & 0x1f) << 1), // reserved '11', version_number, current_next_indicator 1
    0x00,
    0x00,
    0xe0 | (pcrPid >> 8), // reserved '111' + PCR_PID
    pcrPid & 0xff,
    0xf0, // reserved '1111' + program_info_length 0
    0x00,
  ];
  const stream = (type: number, pid: number): void => {
    body.push(type, 0xe0 | (pid >> 8), pid & 0xff, 0xf0, 0x00); // ES_info_length 0
  };
  if (tracks.video) stream(STREAM_TYPE_H264, PID_VIDEO);
  if (tracks.audio) stream(STREAM_TYPE_AAC_ADTS, PID_AUDIO);
  return buildPsiPacket(PID_PMT, TABLE_ID_PMT, body);
}

const PAT_PACKET = buildPat();

export class TsMuxer {
  private out = Buffer.allocUnsafe(INITIAL_WORKING_BYTES);
  private length = 0;
  private readonly pesHeader = Buffer.alloc(PES_FIXED_HEADER_BYTES + 2 * PES_TIMESTAMP_BYTES);
  private patCounter = 0;
  private pmtCounter = 0;
  private videoCounter = 0;
  private audioCounter = 0;
  /** Bytes written on the video and audio PIDs since the segment began. */
  private videoBytes = 0;
  private audioBytes = 0;
  private tracks: TsTracks = { video: false, audio: false };
  private pmtVersion = -1;
  private pmtPacket: Buffer = PAT_PACKET;

  /** Bytes written to the current segment so far. */
  get segmentBytes(): number {
    return this.length;
  }

  /** Starts a segment with PAT and PMT; the PMT version changes when the set of tracks does. */
  beginSegment(tracks: TsTracks): void {
    this.length = 0;
    this.videoBytes = 0;
    this.audioBytes = 0;
    if (
      this.pmtVersion < 0 ||
      tracks.video !== this.tracks.video ||
      tracks.audio !== this.tracks.audio
    ) {
      this.pmtVersion = (this.pmtVersion + 1) & 0x1f;
      this.tracks = { video: tracks.video, audio: tracks.audio };
      this.pmtPacket = buildPmt(this.tracks, this.pmtVersion);
    }
    this.patCounter = this.writePsi(PAT_PACKET, this.patCounter);
    this.pmtCounter = this.writePsi(this.pmtPacket, this.pmtCounter);
  }

  /** One H.264 access unit (Annex-B, AUD first) as one PES; PCR on every video PES. */
  writeVideo(accessUnit: Buffer, dtsTicks: number, ptsTicks: number, keyFrame: boolean): void {
    const headerBytes = this.buildPesHeader(
      STREAM_ID_VIDEO,
      accessUnit.length,
      ptsTicks,
      dtsTicks,
      true,
    );
    this.videoCounter = this.writePes(
      PID_VIDEO,
      this.videoCounter,
      headerBytes,
      accessUnit,
      true,
      dtsTicks - PCR_LEAD_TICKS,
      keyFrame,
    );
  }

  /** One or more ADTS frames as one PES; carries the PCR when the program has no video. */
  writeAudio(adtsFrames: Buffer, ptsTicks: number): void {
    const pcrHere = !this.tracks.video;
    const headerBytes = this.buildPesHeader(
      STREAM_ID_AUDIO,
      adtsFrames.length,
      ptsTicks,
      ptsTicks,
      false,
    );
    this.audioCounter = this.writePes(
      PID_AUDIO,
      this.audioCounter,
      headerBytes,
      adtsFrames,
      pcrHere,
      ptsTicks - PCR_LEAD_TICKS,
      pcrHere,
    );
  }

  /** Bytes of the current segment carried on the video PID and on the audio PID (whole TS packets). */
  get trackBytes(): { readonly video: number; readonly audio: number } {
    return { video: this.videoBytes, audio: this.audioBytes };
  }

  /** Returns the finished segment as its own Buffer; the working buffer is kept for the next one. */
  endSegment(): Buffer {
    const segment = Buffer.allocUnsafe(this.length);
    this.out.copy(segment, 0, 0, this.length);
    this.length = 0;
    return segment;
  }

  private writePsi(packet: Buffer, counter: number): number {
    const at = this.nextPacket();
    packet.copy(this.out, at);
    this.out[at + 3] = (AFC_PAYLOAD_ONLY << 4) | counter;
    return (counter + 1) & 0x0f;
  }

  /**
   * PES header (§2.4.3.6–7) into `this.pesHeader`: '10', data_alignment_indicator 1 (the payload starts
   * with an AUD or an ADTS sync word), PTS, and DTS only when it differs. Returns its length.
   */
  private buildPesHeader(
    streamId: number,
    payloadBytes: number,
    ptsTicks: number,
    dtsTicks: number,
    unboundedAllowed: boolean,
  ): number {
    const h = this.pesHeader;
    const withDts = toPtsField(ptsTicks) !== toPtsField(dtsTicks);
    const headerDataBytes = withDts ? 2 * PES_TIMESTAMP_BYTES : PES_TIMESTAMP_BYTES;
    const headerBytes = PES_FIXED_HEADER_BYTES + headerDataBytes;
    const packetLength = headerBytes - PES_LENGTH_FIELD_END + payloadBytes;
    h[0] = 0x00;
    h[1] = 0x00;
    h[2] = 0x01;
    h[PES_START_CODE_PREFIX_BYTES] = streamId;
    // 0 = unbounded, allowed only for video elementary streams in a transport stream (§2.4.3.7).
    h.writeUInt16BE(unboundedAllowed || packetLength > PES_MAX_PACKET_LENGTH ? 0 : packetLength, 4);
    h[6] = 0x84; // '10', not scrambled, priority 0, data_alignment_indicator 1, no copyright, copy
    h[7] = withDts ? 0xc0 : 0x80; // PTS_DTS_flags '11' or '10', no other optional fields
    h[8] = headerDataBytes;
    writeTimestamp(h, 9, withDts ? PTS_WITH_DTS_PREFIX : PTS_ONLY_PREFIX, ptsTicks);
    if (withDts) writeTimestamp(h, 9 + PES_TIMESTAMP_BYTES, DTS_PREFIX, dtsTicks);
    return headerBytes;
  }

  /**
   * Splits PES header + payload into TS packets on `pid` (§2.4.3.2). The first packet sets
   * payload_unit_start_indicator and may carry an adaptation field with PCR and/or
   * random_access_indicator; the last is padded with adaptation-field stuffing (§2.4.3.5), never with
   * payload bytes. Returns the next continuity counter.
   */
  private writePes(
    pid: number,
    counter: number,
    headerBytes: number,
    payload: Buffer,
    withPcr: boolean,
    pcrTicks: number,
    randomAccess: boolean,
  ): number {
    let headerLeft = headerBytes;
    let payloadPos = 0;
    let first = true;
    while (first || payloadPos < payload.length) {
      const at = this.nextPacket();
      const out = this.out; // after nextPacket(), which may have grown the buffer
      // Adaptation field content on the first packet: flags byte (+ PCR).
      const flags = first
        ? (withPcr ? AF_PCR_FLAG : 0) | (randomAccess ? AF_RANDOM_ACCESS_INDICATOR : 0)
        : 0;
      let adaptationBytes = flags !== 0 ? 2 + (withPcr ? PCR_BYTES : 0) : 0;
      const dataLeft = headerLeft + payload.length - payloadPos;
      const room = TS_PAYLOAD_BYTES - adaptationBytes;
      // Fewer bytes than room: the adaptation field grows (or appears, 1 byte = length 0) to fill.
      if (dataLeft < room) adaptationBytes += room - dataLeft;
      out[at] = TS_SYNC_BYTE;
      out[at + 1] = (first ? 0x40 : 0x00) | (pid >> 8);
      out[at + 2] = pid & 0xff;
      out[at + 3] =
        ((adaptationBytes > 0 ? AFC_ADAPTATION_AND_PAYLOAD : AFC_PAYLOAD_ONLY) << 4) | counter;
      counter = (counter + 1) & 0x0f;
      let w = at + TS_HEADER_BYTES;
      if (adaptationBytes > 0) {
        const end = w + adaptationBytes;
        out[w++] = adaptationBytes - 1; // adaptation_field_length excludes itself
        if (adaptationBytes > 1) {
          out[w++] = flags;
          if (flags & AF_PCR_FLAG) {
            writePcr(out, w, pcrTicks);
            w += PCR_BYTES;
          }
          out.fill(STUFFING_BYTE, w, end);
          w = end;
        }
      }
      if (headerLeft > 0) {
        w += this.pesHeader.copy(out, w, 0, headerLeft);
        headerLeft = 0;
      }
      const take = at + TS_PACKET_SIZE_BYTES - w;
      w += payload.copy(out, w, payloadPos, payloadPos + take);
      payloadPos += take;
      first = false;
      if (pid === PID_VIDEO) this.videoBytes += TS_PACKET_SIZE_BYTES;
      else if (pid === PID_AUDIO) this.audioBytes += TS_PACKET_SIZE_BYTES;
    }
    return counter;
  }

  /** Reserves one TS packet in the working buffer and returns its offset. */
  private nextPacket(): number {
    if (this.length + TS_PACKET_SIZE_BYTES > this.out.length) {
      const grown = Buffer.allocUnsafe(this.out.length * 2);
      this.out.copy(grown, 0, 0, this.length);
      this.out = grown;
    }
    const at = this.length;
    this.length += TS_PACKET_SIZE_BYTES;
    return at;
  }
}
