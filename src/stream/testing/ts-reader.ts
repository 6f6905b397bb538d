/**
 * A minimal MPEG-TS reader for unit tests, written from ISO/IEC 13818-1 independently of the muxer:
 * splits 188-byte packets, decodes headers and adaptation fields, reassembles PES packets and reads
 * PTS/DTS.
 */

export interface TsPacketView {
  readonly offset: number;
  readonly sync: number;
  readonly payloadUnitStart: boolean;
  readonly pid: number;
  readonly adaptationFieldControl: number;
  readonly continuityCounter: number;
  /** adaptation_field_length, or -1 when there is none. */
  readonly adaptationLength: number;
  readonly randomAccess: boolean;
  /** PCR base (90 kHz), when the PCR flag is set. */
  readonly pcrBase?: number;
  readonly payload: Buffer;
}

export interface PesView {
  readonly pid: number;
  readonly streamId: number;
  readonly packetLength: number;
  readonly flags1: number;
  readonly ptsDtsFlags: number;
  readonly headerDataLength: number;
  readonly pts: number;
  readonly dts?: number;
  readonly payload: Buffer;
  readonly randomAccess: boolean;
  readonly pcrBase?: number;
}

export function splitPackets(data: Buffer): TsPacketView[] {
  const packets: TsPacketView[] = [];
  for (let offset = 0; offset < data.length; offset += 188) {
    const p = data.subarray(offset, offset + 188);
    const afc = (p[3] >> 4) & 0x03;
    let pos = 4;
    let adaptationLength = -1;
    let randomAccess = false;
    let pcrBase: number | undefined;
    if (afc & 0x02) {
      adaptationLength = p[4];
      if (adaptationLength > 0) {
        const flags = p[5];
        randomAccess = (flags & 0x40) !== 0;
        if (flags & 0x10) {
          pcrBase = p[6] * 2 ** 25 + p[7] * 2 ** 17 + p[8] * 2 ** 9 + p[9] * 2 + (p[10] >> 7);
        }
      }
      pos = 5 + adaptationLength;
    }
    packets.push({
      offset,
      sync: p[0],
      payloadUnitStart: (p[1] & 0x40) !== 0,
      pid: ((p[1] & 0x1f) << 8) | p[2],
      adaptationFieldControl: afc,
      continuityCounter: p[3] & 0x0f,
      adaptationLength,
      randomAccess,
      pcrBase,
      payload: afc & 0x01 ? p.subarray(pos) : Buffer.alloc(0),
    });
  }
  return packets;
}

/** 33-bit PTS/DTS from the 5-byte field (§2.4.3.7). */
export function readTimestamp(b: Buffer, at: number): number {
  return (
    ((b[at] >> 1) & 0x07) * 2 ** 30 +
    b[at + 1] * 2 ** 22 +
    (b[at + 2] >> 1) * 2 ** 15 +
    b[at + 3] * 2 ** 7 +
    (b[at + 4] >> 1)
  );
}

/** Every PES of `pid`, reassembled from the payload_unit_start packets on. */
export function readPes(data: Buffer, pid: number): PesView[] {
  const result: PesView[] = [];
  let parts: Buffer[] = [];
  let first: TsPacketView | undefined;
  const finish = (): void => {
    if (!first) return;
    const pes = Buffer.concat(parts);
    const ptsDtsFlags = pes[7] >> 6;
    result.push({
      pid,
      streamId: pes[3],
      packetLength: pes.readUInt16BE(4),
      flags1: pes[6],
      ptsDtsFlags,
      headerDataLength: pes[8],
      pts: readTimestamp(pes, 9),
      dts: ptsDtsFlags === 0x3 ? readTimestamp(pes, 14) : undefined,
      payload: pes.subarray(9 + pes[8]),
      randomAccess: first.randomAccess,
      pcrBase: first.pcrBase,
    });
  };
  for (const packet of splitPackets(data)) {
    if (packet.pid !== pid) continue;
    if (packet.payloadUnitStart) {
      finish();
      parts = [];
      first = packet;
    }
    if (first) parts.push(packet.payload);
  }
  finish();
  return result;
}

/** The PSI section of the first packet on `pid` (pointer_field honoured), through its CRC. */
export function readSection(data: Buffer, pid: number): Buffer {
  const packet = splitPackets(data).find((p) => p.pid === pid && p.payloadUnitStart);
  if (!packet) throw new Error(`no section on PID ${pid}`);
  const start = 1 + packet.payload[0];
  const sectionLength = ((packet.payload[start + 1] & 0x0f) << 8) | packet.payload[start + 2];
  return packet.payload.subarray(start, start + 3 + sectionLength);
}
