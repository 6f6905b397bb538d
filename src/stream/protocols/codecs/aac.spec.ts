import { ADTS_HEADER_BYTES, parseAacConfig, writeAdtsHeader } from './aac';

/** Reads adts_fixed_header + adts_variable_header (ISO/IEC 14496-3 §1.A.2.2.1) field by field. */
function readAdts(h: Buffer): Record<string, number> {
  let bit = 0;
  const read = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bit++) v = v * 2 + ((h[bit >> 3] >> (7 - (bit & 7))) & 1);
    return v;
  };
  return {
    syncword: read(12),
    id: read(1),
    layer: read(2),
    protectionAbsent: read(1),
    profile: read(2),
    samplingIndex: read(4),
    privateBit: read(1),
    channelConfiguration: read(3),
    originalCopy: read(1),
    home: read(1),
    copyrightBit: read(1),
    copyrightStart: read(1),
    frameLength: read(13),
    bufferFullness: read(11),
    rawDataBlocks: read(2),
  };
}

describe('parseAacConfig', () => {
  it('reads AAC-LC 44.1 kHz stereo', () => {
    expect(parseAacConfig(Buffer.from([0x12, 0x10]), 0)).toEqual({
      objectType: 2,
      samplingIndex: 4,
      channelConfiguration: 2,
      sampleRateHz: 44100,
    });
  });

  it('reads the core AAC-LC config of explicitly signalled HE-AAC (SBR)', () => {
    // objectType 5, 24 kHz (6), stereo, extension 48 kHz (3), core objectType 2.
    const asc = Buffer.from([0b00101011, 0b00010001, 0b10001000, 0]);
    expect(parseAacConfig(asc, 0)).toMatchObject({
      objectType: 2,
      samplingIndex: 6,
      channelConfiguration: 2,
    });
  });

  it('refuses what ADTS cannot express, and truncated configs', () => {
    expect(parseAacConfig(Buffer.from([0x17, 0x80, 0, 0, 0]), 0)).toBeUndefined(); // explicit frequency
    expect(parseAacConfig(Buffer.from([0x12, 0x00]), 0)).toBeUndefined(); // channels in a PCE
    expect(parseAacConfig(Buffer.from([0xf8, 0x00, 0x00]), 0)).toBeUndefined(); // escape object type
    expect(parseAacConfig(Buffer.from([0x12]), 0)).toBeUndefined();
    expect(parseAacConfig(Buffer.alloc(0), 0)).toBeUndefined();
  });
});

describe('writeAdtsHeader', () => {
  it('writes the ISO 14496-3 header fields for the config and frame length', () => {
    const config = parseAacConfig(Buffer.from([0x11, 0x90]), 0)!; // LC, 48 kHz, stereo
    const header = Buffer.alloc(ADTS_HEADER_BYTES);
    writeAdtsHeader(header, 0, config, 371);
    expect(readAdts(header)).toEqual({
      syncword: 0xfff,
      id: 0,
      layer: 0,
      protectionAbsent: 1,
      profile: 1, // objectType 2 - 1
      samplingIndex: 3,
      privateBit: 0,
      channelConfiguration: 2,
      originalCopy: 0,
      home: 0,
      copyrightBit: 0,
      copyrightStart: 0,
      frameLength: 371 + 7,
      bufferFullness: 0x7ff,
      rawDataBlocks: 0,
    });
  });

  it('splits a 7-channel config and the largest frame length across bytes correctly', () => {
    const config = {
      objectType: 1,
      samplingIndex: 11,
      channelConfiguration: 7,
      sampleRateHz: 8000,
    };
    const header = Buffer.alloc(ADTS_HEADER_BYTES);
    writeAdtsHeader(header, 0, config, 0x1fff - 7);
    expect(readAdts(header)).toMatchObject({
      profile: 0,
      samplingIndex: 11,
      channelConfiguration: 7,
      frameLength: 0x1fff,
    });
  });
});
