import { TEST_SPS } from '../../testing/flv-packets';
import { parseSps } from './h264-sps';

describe('parseSps', () => {
  it('rejects the shared test SPS, whose frame cropping offsets are cut off', () => {
    // frame_cropping_flag is 1 but the stream ends before frame_crop_left_offset (ffmpeg agrees).
    expect(parseSps(TEST_SPS)).toBeUndefined();
  });

  it('reads a High-profile SPS with frame cropping (x264, 344x196)', () => {
    // x264 -profile:v high at 344x196: 22x13 macroblocks, cropped by 8 columns and 12 rows;
    // the 00 00 03 in it is an emulation prevention byte.
    const high = Buffer.from('6764000dacd94161be59f011000003000100000300320f142996', 'hex');
    expect(parseSps(high)).toEqual({ profileIdc: 100, levelIdc: 13, width: 344, height: 196 });
    const baseline = Buffer.from('6742c00dda0586f967c044000003000400000300c83c50aa80', 'hex');
    expect(parseSps(baseline)).toEqual({ profileIdc: 66, levelIdc: 13, width: 344, height: 196 });
  });

  it('rejects truncated SPS and other NAL types, never reading out of bounds', () => {
    expect(parseSps(Buffer.from([0x67, 0x42]))).toBeUndefined();
    expect(parseSps(Buffer.from('6842c01e95a0a0fd00', 'hex'))).toBeUndefined();
    for (let n = 4; n < TEST_SPS.length - 1; n++) {
      expect(parseSps(TEST_SPS.subarray(0, n))).toBeUndefined();
    }
  });
});
