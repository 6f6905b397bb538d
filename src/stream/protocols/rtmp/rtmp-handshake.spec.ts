import { createHmac, randomBytes } from 'node:crypto';
import { serverHandshake } from './rtmp-handshake';

/*
 * The digest handshake as published for Flash Player / Flash Media Server (the "complex" handshake that
 * FFmpeg and librtmp implement): written here independently of the server's code.
 */
const PLAYER_KEY = Buffer.from('Genuine Adobe Flash Player 001', 'ascii');
const SERVER_KEY = Buffer.from('Genuine Adobe Flash Media Server 001', 'ascii');
const SERVER_FULL_KEY = Buffer.concat([
  SERVER_KEY,
  Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex'),
]);
const PACKET = 1536;

const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest();

/** Where the digest sits: (sum of the 4 bytes at 8 or 772) % 728 + 12 or 776. */
function offsetOf(packet: Buffer, scheme: 0 | 1): number {
  const at = scheme === 0 ? 8 : 772;
  const sum = packet[at] + packet[at + 1] + packet[at + 2] + packet[at + 3];
  return (sum % 728) + (scheme === 0 ? 12 : 776);
}

const withoutDigest = (packet: Buffer, offset: number): Buffer =>
  Buffer.concat([packet.subarray(0, offset), packet.subarray(offset + 32)]);

function signedC1(scheme: 0 | 1, key = PLAYER_KEY): { c1: Buffer; digest: Buffer } {
  const c1 = randomBytes(PACKET);
  c1.writeUInt32BE(0, 0);
  Buffer.from([10, 0, 45, 2]).copy(c1, 4); // a Flash Player version: "signed"
  const offset = offsetOf(c1, scheme);
  const digest = hmac(key, withoutDigest(c1, offset));
  digest.copy(c1, offset);
  return { c1, digest };
}

describe('serverHandshake', () => {
  it('answers a plain C1 with S0 = 3, an S1 with zero time and version, and S2 = C1', () => {
    const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(PACKET - 8)]);
    const out = serverHandshake(c1);
    expect(out).toHaveLength(1 + 2 * PACKET);
    expect(out[0]).toBe(3);
    expect(out.readUInt32BE(1)).toBe(0);
    expect(out.readUInt32BE(5)).toBe(0);
    expect(out.subarray(1 + PACKET).equals(c1)).toBe(true);
  });

  it('answers a C1 signed with another key as a plain one', () => {
    const { c1 } = signedC1(0, Buffer.from('not the player key'));
    const out = serverHandshake(c1);
    expect(out.readUInt32BE(5)).toBe(0);
    expect(out.subarray(1 + PACKET).equals(c1)).toBe(true);
  });

  it.each([0, 1] as const)(
    'signs S1 and S2 back for a C1 with the Flash Player digest of scheme %i',
    (scheme) => {
      const { c1, digest } = signedC1(scheme);
      const out = serverHandshake(c1);
      expect(out[0]).toBe(3);
      const s1 = out.subarray(1, 1 + PACKET);
      const s2 = out.subarray(1 + PACKET);
      expect(s1.readUInt32BE(4)).not.toBe(0);
      const s1Offset = offsetOf(s1, scheme);
      expect(
        hmac(SERVER_KEY, withoutDigest(s1, s1Offset)).equals(s1.subarray(s1Offset, s1Offset + 32)),
      ).toBe(true);
      const s2Key = hmac(SERVER_FULL_KEY, digest);
      expect(hmac(s2Key, s2.subarray(0, PACKET - 32)).equals(s2.subarray(PACKET - 32))).toBe(true);
      expect(s2.equals(c1)).toBe(false);
    },
  );
});
