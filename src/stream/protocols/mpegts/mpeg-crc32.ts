/**
 * CRC-32/MPEG-2 as used by PSI sections (ISO/IEC 13818-1 §2.4.4.10, Annex A): polynomial 0x04C11DB7,
 * initial value 0xFFFFFFFF, MSB first (no bit reflection), no final XOR. A section including its CRC
 * field checks to 0.
 */
const CRC32_MPEG2_POLYNOMIAL = 0x04c11db7;

const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 24;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x80000000 ? (crc << 1) ^ CRC32_MPEG2_POLYNOMIAL : crc << 1;
    }
    table[byte] = crc >>> 0;
  }
  return table;
})();

/** CRC-32/MPEG-2 of `data[start, end)`. */
export function crc32Mpeg2(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc = (crc << 8) ^ TABLE[((crc >>> 24) ^ data[i]) & 0xff];
  }
  return crc >>> 0;
}
