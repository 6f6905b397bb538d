import { AnnexBWriter, parseAvcConfig } from './avc';
import { avcFrame, avcSequenceHeader, slice, TEST_PPS, TEST_SPS } from '../../testing/flv-packets';

const START = Buffer.from([0, 0, 0, 1]);
const AUD = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
/** FLV AVC header: frame type/codec, AVCPacketType, composition time. */
const TAG_HEADER_BYTES = 5;

function record(): Buffer {
  return avcSequenceHeader().payload.subarray(TAG_HEADER_BYTES);
}

/** Splits an Annex-B stream at 4-byte start codes. */
function nalUnits(annexB: Buffer): Buffer[] {
  const units: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 4 <= annexB.length; i++) {
    if (annexB.readUInt32BE(i) === 1) {
      if (start >= 0) units.push(annexB.subarray(start, i));
      start = i + 4;
      i += 3;
    }
  }
  if (start >= 0) units.push(annexB.subarray(start));
  return units;
}

describe('parseAvcConfig', () => {
  it('reads the NAL length size and turns SPS/PPS into Annex-B', () => {
    const config = parseAvcConfig(record(), 0);
    expect(config?.nalLengthSize).toBe(4);
    expect(
      config?.parameterSetsAnnexB.equals(Buffer.concat([START, TEST_SPS, START, TEST_PPS])),
    ).toBe(true);
  });

  it('rejects every truncation of a record without throwing', () => {
    const full = record();
    for (let length = 0; length < full.length; length++) {
      expect(parseAvcConfig(full.subarray(0, length), 0)).toBeUndefined();
    }
  });

  it('rejects an unknown version and a record without PPS', () => {
    const wrongVersion = Buffer.from(record());
    wrongVersion[0] = 2;
    expect(parseAvcConfig(wrongVersion, 0)).toBeUndefined();
    const noPps = Buffer.from(record());
    noPps[6 + 2 + TEST_SPS.length] = 0; // numOfPictureParameterSets = 0
    expect(parseAvcConfig(noPps.subarray(0, 6 + 2 + TEST_SPS.length + 1), 0)).toBeUndefined();
  });
});

describe('AnnexBWriter', () => {
  const config = parseAvcConfig(record(), 0)!;

  function convert(keyFrame: boolean, nals: Buffer[]): Buffer[] | undefined {
    const writer = new AnnexBWriter();
    const packet = avcFrame(0, keyFrame, nals);
    return writer.convert(packet.payload, TAG_HEADER_BYTES, config, keyFrame)
      ? nalUnits(writer.bytes)
      : undefined;
  }

  it('writes AUD, SPS, PPS, then the IDR slice, each behind a start code', () => {
    const idr = slice(true, 40);
    const writer = new AnnexBWriter();
    const packet = avcFrame(0, true, [idr]);
    expect(writer.convert(packet.payload, TAG_HEADER_BYTES, config, true)).toBe(true);
    expect(writer.bytes.subarray(0, AUD.length).equals(AUD)).toBe(true);
    expect(nalUnits(writer.bytes)).toEqual([AUD.subarray(4), TEST_SPS, TEST_PPS, idr]);
  });

  it('adds no parameter sets before a non-IDR frame', () => {
    const p = slice(false, 20);
    expect(convert(false, [p])).toEqual([AUD.subarray(4), p]);
  });

  it('adds SPS/PPS before an IDR slice even when FLV does not flag a key frame', () => {
    const idr = slice(true, 20);
    expect(convert(false, [idr])).toEqual([AUD.subarray(4), TEST_SPS, TEST_PPS, idr]);
  });

  it('does not repeat parameter sets the frame carries itself, and drops its own AUDs', () => {
    const idr = slice(true, 20);
    const sei = Buffer.from([0x06, 0x05, 0x01, 0x80]);
    const ownAud = Buffer.from([0x09, 0x10]);
    expect(convert(true, [ownAud, TEST_SPS, TEST_PPS, sei, idr])).toEqual([
      AUD.subarray(4),
      TEST_SPS,
      TEST_PPS,
      sei,
      idr,
    ]);
  });

  it('refuses a NAL length that runs past the payload, and a frame with no NAL unit', () => {
    const writer = new AnnexBWriter();
    const good = avcFrame(0, true, [slice(true, 50)]).payload;
    for (let cut = TAG_HEADER_BYTES + 1; cut < good.length; cut++) {
      expect(writer.convert(good.subarray(0, cut), TAG_HEADER_BYTES, config, true)).toBe(false);
    }
    const bogus = Buffer.from(good);
    bogus.writeUInt32BE(0xffffffff, TAG_HEADER_BYTES);
    expect(writer.convert(bogus, TAG_HEADER_BYTES, config, true)).toBe(false);
    expect(writer.convert(good.subarray(0, TAG_HEADER_BYTES), TAG_HEADER_BYTES, config, true)).toBe(
      false,
    );
  });

  it('grows its buffer for large frames and reuses it', () => {
    const writer = new AnnexBWriter();
    const big = slice(true, 300_000);
    const payload = avcFrame(0, true, [big]).payload;
    expect(writer.convert(payload, TAG_HEADER_BYTES, config, true)).toBe(true);
    expect(nalUnits(writer.bytes)[3].equals(big)).toBe(true);
    const small = slice(false, 10);
    expect(
      writer.convert(avcFrame(0, false, [small]).payload, TAG_HEADER_BYTES, config, false),
    ).toBe(true);
    expect(nalUnits(writer.bytes)).toEqual([AUD.subarray(4), small]);
  });
});
