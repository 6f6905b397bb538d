import {
  AacTrack,
  AUDIO_TRACK_ID,
  AvcTrack,
  buildInitSegment,
  VIDEO_TIMESCALE_HZ,
  VIDEO_TRACK_ID,
} from './fmp4-init';
import { Box, find, findAll, fullBoxHeader, mustFind, readBoxes } from './testing-mp4-reader';

const AVC_RECORD = Buffer.from(
  '0142c00dffe1001a6742c00dda0586f967c044000003000400000300c83c50aa8001000468ce0fc8',
  'hex',
);
const VIDEO: AvcTrack = { codec: 'avc1', width: 344, height: 196, avcDecoderConfig: AVC_RECORD };
const AUDIO: AacTrack = {
  codec: 'mp4a',
  sampleRateHz: 48000,
  channelCount: 2,
  audioSpecificConfig: Buffer.from([0x11, 0x90]),
};

function traks(init: Buffer): Box[] {
  return findAll(mustFind(readBoxes(init), 'moov').children, 'trak');
}

function sampleEntry(trak: Box): Box {
  const stsd = mustFind(trak.children, 'mdia', 'minf', 'stbl', 'stsd');
  expect(stsd.body.readUInt32BE(4)).toBe(1); // entry_count
  return readBoxes(stsd.body, 8)[0];
}

describe('buildInitSegment', () => {
  const init = buildInitSegment({ video: VIDEO, audio: AUDIO });
  const boxes = readBoxes(init);

  it('is ftyp (iso6; iso6, cmfc, mp41) then moov, nothing else', () => {
    expect(boxes.map((b) => b.type)).toEqual(['ftyp', 'moov']);
    const ftyp = boxes[0].body;
    expect(ftyp.toString('latin1', 0, 4)).toBe('iso6');
    expect(ftyp.readUInt32BE(4)).toBe(0);
    expect(ftyp.toString('latin1', 8)).toBe('iso6cmfcmp41');
  });

  it('has mvhd (next_track_ID 3), one trak per track, and mvex with one trex per track', () => {
    const moov = boxes[1].children;
    expect(moov.map((b) => b.type)).toEqual(['mvhd', 'trak', 'trak', 'mvex']);
    const mvhd = moov[0];
    expect(mvhd.size).toBe(108);
    expect(mvhd.body.readUInt32BE(mvhd.body.length - 4)).toBe(3);
    const trex = findAll(mustFind(moov, 'mvex').children, 'trex');
    expect(trex.map((t) => [t.size, t.body.readUInt32BE(4), t.body.readUInt32BE(8)])).toEqual([
      [32, VIDEO_TRACK_ID, 1],
      [32, AUDIO_TRACK_ID, 1],
    ]);
  });

  it('describes the video track: id 1, 90 kHz, vide, vmhd, avc1 with size and the avcC record', () => {
    const trak = traks(init)[0];
    const tkhd = mustFind(trak.children, 'tkhd');
    expect(fullBoxHeader(tkhd)).toEqual({ version: 0, flags: 3 });
    expect(tkhd.body.readUInt32BE(12)).toBe(VIDEO_TRACK_ID);
    expect(tkhd.body.readUInt32BE(tkhd.body.length - 8)).toBe(344 << 16);
    expect(tkhd.body.readUInt32BE(tkhd.body.length - 4)).toBe(196 << 16);
    expect(mustFind(trak.children, 'mdia', 'mdhd').body.readUInt32BE(12)).toBe(VIDEO_TIMESCALE_HZ);
    expect(mustFind(trak.children, 'mdia', 'hdlr').body.toString('latin1', 8, 12)).toBe('vide');
    expect(fullBoxHeader(mustFind(trak.children, 'mdia', 'minf', 'vmhd')).flags).toBe(1);
    const dref = mustFind(trak.children, 'mdia', 'minf', 'dinf', 'dref');
    expect(dref.body.subarray(4).toString('hex')).toBe('00000001' + '0000000c75726c2000000001');
    const avc1 = sampleEntry(trak);
    expect(avc1.type).toBe('avc1');
    expect(avc1.body.readUInt16BE(6)).toBe(1); // data_reference_index
    expect(avc1.body.readUInt16BE(24)).toBe(344);
    expect(avc1.body.readUInt16BE(26)).toBe(196);
    const avcC = readBoxes(avc1.body, 78);
    expect(avcC.map((b) => b.type)).toEqual(['avcC']);
    expect(avcC[0].body.equals(AVC_RECORD)).toBe(true);
    const stbl = mustFind(trak.children, 'mdia', 'minf', 'stbl');
    expect(stbl.children.map((b) => [b.type, b.size])).toEqual([
      ['stsd', expect.any(Number)],
      ['stts', 16],
      ['stsc', 16],
      ['stsz', 20],
      ['stco', 16],
    ]);
  });

  it('describes the audio track: id 2, timescale = sample rate, soun, mp4a with an esds holding the ASC', () => {
    const trak = traks(init)[1];
    expect(mustFind(trak.children, 'tkhd').body.readUInt32BE(12)).toBe(AUDIO_TRACK_ID);
    expect(mustFind(trak.children, 'mdia', 'mdhd').body.readUInt32BE(12)).toBe(48000);
    expect(mustFind(trak.children, 'mdia', 'hdlr').body.toString('latin1', 8, 12)).toBe('soun');
    expect(find(trak.children, 'mdia', 'minf', 'smhd')).toBeDefined();
    const mp4a = sampleEntry(trak);
    expect(mp4a.type).toBe('mp4a');
    expect(mp4a.body.readUInt16BE(16)).toBe(2); // channelcount
    expect(mp4a.body.readUInt32BE(24)).toBe(48000 * 65536);
    const esds = readBoxes(mp4a.body, 28)[0];
    expect(esds.type).toBe('esds');
    // ES_Descriptor(3) { ES_ID 0, flags 0, DecoderConfig(4) { 0x40 audio, 0x15, 0,0,0, DSI(5) { ASC } }, SL(6) { 2 } }
    expect(esds.body.subarray(4).toString('hex')).toBe(
      '0319' +
        '000000' +
        '0411' +
        '40' +
        '15' +
        '000000' +
        '00000000' +
        '00000000' +
        '0502' +
        '1190' +
        '060102',
    );
  });

  it('has only the tracks present: video only, audio only', () => {
    expect(
      traks(buildInitSegment({ video: VIDEO })).map((t) =>
        mustFind(t.children, 'mdia', 'hdlr').body.toString('latin1', 8, 12),
      ),
    ).toEqual(['vide']);
    const audioOnly = buildInitSegment({ audio: AUDIO });
    expect(traks(audioOnly)).toHaveLength(1);
    expect(mustFind(traks(audioOnly)[0].children, 'tkhd').body.readUInt32BE(12)).toBe(
      AUDIO_TRACK_ID,
    );
    expect(findAll(mustFind(readBoxes(audioOnly), 'moov', 'mvex').children, 'trex')).toHaveLength(
      1,
    );
    expect(() => buildInitSegment({})).toThrow(RangeError);
  });
});
