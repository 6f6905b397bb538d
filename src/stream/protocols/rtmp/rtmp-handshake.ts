import { createHmac, randomBytes } from 'node:crypto';

/**
 * The server side of the RTMP handshake (RTMP spec 5.2): C0 C1 in, S0 S1 S2 out, C2 in and ignored.
 * Flash-era clients (and FFmpeg, OBS through librtmp) sign C1 with an HMAC-SHA256 digest at one of two
 * places and expect S1 and S2 signed back the same way; a client without a digest gets the plain
 * handshake (S2 echoes C1). Fixed sizes: whatever a peer sends costs three HMACs at most.
 */
export const HANDSHAKE_PACKET_BYTES = 1536;
/** Bytes the client sends before chunk data: C0 (version), C1, C2. */
export const CLIENT_HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_PACKET_BYTES;
const RTMP_VERSION = 3;
const DIGEST_BYTES = 32;

const PLAYER_KEY = Buffer.from('Genuine Adobe Flash Player 001', 'ascii');
const SERVER_KEY_TEXT = Buffer.from('Genuine Adobe Flash Media Server 001', 'ascii');
/** The server key with its 32 bytes of tail, used to key S2's signature. */
const SERVER_FULL_KEY = Buffer.concat([
  SERVER_KEY_TEXT,
  Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex'),
]);

/** Where a digest sits: after the time and version fields (scheme 0) or after the key block (scheme 1). */
const SCHEMES = [
  { offsetBase: 8, digestBase: 12 },
  { offsetBase: 772, digestBase: 776 },
] as const;
type Scheme = (typeof SCHEMES)[number];
/** Digest positions wrap within this many bytes of their block. */
const DIGEST_OFFSET_MODULO = 728;

function digestOffset(packet: Buffer, scheme: Scheme): number {
  const at = scheme.offsetBase;
  const sum = packet[at] + packet[at + 1] + packet[at + 2] + packet[at + 3];
  return (sum % DIGEST_OFFSET_MODULO) + scheme.digestBase;
}

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of data) mac.update(part);
  return mac.digest();
}

/** The digest of `packet` without the 32 bytes at `offset`. */
function packetDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return hmac(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_BYTES));
}

/** The scheme whose digest C1 carries, with its offset; undefined for a plain client. */
function findClientDigest(c1: Buffer): { scheme: Scheme; offset: number } | undefined {
  // FFmpeg and librtmp use scheme 0; Flash Player 10+ scheme 1. Try the later first, as servers do.
  for (const scheme of [SCHEMES[1], SCHEMES[0]]) {
    const offset = digestOffset(c1, scheme);
    const expected = packetDigest(c1, offset, PLAYER_KEY);
    if (expected.equals(c1.subarray(offset, offset + DIGEST_BYTES))) return { scheme, offset };
  }
  return undefined;
}

/** S0 S1 S2 for a client's C1 (1536 bytes). */
export function serverHandshake(c1: Buffer): Buffer {
  const s1 = randomBytes(HANDSHAKE_PACKET_BYTES);
  s1.writeUInt32BE(0, 0); // time
  const signed = findClientDigest(c1);
  if (!signed) {
    s1.writeUInt32BE(0, 4); // zero: a plain handshake
    return Buffer.concat([Buffer.from([RTMP_VERSION]), s1, c1]);
  }
  // A non-zero version makes clients read S1 as signed (the value is what servers have always sent).
  Buffer.from([1, 2, 3, 4]).copy(s1, 4);
  const s1Offset = digestOffset(s1, signed.scheme);
  packetDigest(s1, s1Offset, SERVER_KEY_TEXT).copy(s1, s1Offset);
  const s2 = randomBytes(HANDSHAKE_PACKET_BYTES);
  const random = s2.subarray(0, HANDSHAKE_PACKET_BYTES - DIGEST_BYTES);
  const clientDigest = c1.subarray(signed.offset, signed.offset + DIGEST_BYTES);
  hmac(hmac(SERVER_FULL_KEY, clientDigest), random).copy(s2, HANDSHAKE_PACKET_BYTES - DIGEST_BYTES);
  return Buffer.concat([Buffer.from([RTMP_VERSION]), s1, s2]);
}
