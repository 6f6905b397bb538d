/**
 * A tiny ISO/IEC 14496-12 box reader for tests: splits a buffer into boxes (§4.2), descends into the
 * containers we write, and decodes the fragment boxes (tfhd §8.8.7, tfdt §8.8.12, trun §8.8.8). Throws on
 * any box that does not fit its parent, so a layout bug fails the test that reads it.
 */

export interface Box {
  readonly type: string;
  /** Offset of the box header in the buffer it was read from. */
  readonly offset: number;
  readonly size: number;
  /** The box body (after size and type). */
  readonly body: Buffer;
  readonly children: Box[];
}

/** Boxes whose body is only child boxes. */
const CONTAINERS = new Set([
  'moov',
  'trak',
  'mdia',
  'minf',
  'dinf',
  'stbl',
  'mvex',
  'moof',
  'traf',
]);
const HEADER_BYTES = 8;

export function readBoxes(data: Buffer, start = 0, end = data.length): Box[] {
  const boxes: Box[] = [];
  let pos = start;
  while (pos < end) {
    if (end - pos < HEADER_BYTES) throw new Error(`truncated box header at ${pos}`);
    const size = data.readUInt32BE(pos);
    const type = data.toString('latin1', pos + 4, pos + 8);
    if (size < HEADER_BYTES || pos + size > end) throw new Error(`box ${type} at ${pos} overruns`);
    const body = data.subarray(pos + HEADER_BYTES, pos + size);
    const children = CONTAINERS.has(type) ? readBoxes(data, pos + HEADER_BYTES, pos + size) : [];
    boxes.push({ type, offset: pos, size, body, children });
    pos += size;
  }
  return boxes;
}

/** The first box along a path of types, e.g. `find(boxes, 'moov', 'trak', 'tkhd')`. */
export function find(boxes: readonly Box[], ...path: string[]): Box | undefined {
  let level: readonly Box[] = boxes;
  let found: Box | undefined;
  for (const type of path) {
    found = level.find((b) => b.type === type);
    if (!found) return undefined;
    level = found.children;
  }
  return found;
}

export function findAll(boxes: readonly Box[], type: string): Box[] {
  return boxes.filter((b) => b.type === type);
}

export function mustFind(boxes: readonly Box[], ...path: string[]): Box {
  const box = find(boxes, ...path);
  if (!box) throw new Error(`no ${path.join('/')}`);
  return box;
}

export interface FullBoxHeader {
  readonly version: number;
  readonly flags: number;
}

export function fullBoxHeader(box: Box): FullBoxHeader {
  return { version: box.body[0], flags: box.body.readUIntBE(1, 3) };
}

export interface Tfhd extends FullBoxHeader {
  readonly trackId: number;
  readonly defaultSampleFlags?: number;
}

export function readTfhd(box: Box): Tfhd {
  const header = fullBoxHeader(box);
  let pos = 4;
  const trackId = box.body.readUInt32BE(pos);
  pos += 4;
  let defaultSampleFlags: number | undefined;
  if (header.flags & 0x01) pos += 8; // base_data_offset
  if (header.flags & 0x02) pos += 4; // sample_description_index
  if (header.flags & 0x08) pos += 4; // default_sample_duration
  if (header.flags & 0x10) pos += 4; // default_sample_size
  if (header.flags & 0x20) defaultSampleFlags = box.body.readUInt32BE(pos);
  return { ...header, trackId, defaultSampleFlags };
}

export function readTfdt(box: Box): FullBoxHeader & { baseMediaDecodeTime: number } {
  const header = fullBoxHeader(box);
  const time =
    header.version === 1
      ? box.body.readUInt32BE(4) * 2 ** 32 + box.body.readUInt32BE(8)
      : box.body.readUInt32BE(4);
  return { ...header, baseMediaDecodeTime: time };
}

export interface TrunSample {
  duration?: number;
  size?: number;
  flags?: number;
  compositionOffset?: number;
}

export interface Trun extends FullBoxHeader {
  readonly dataOffset?: number;
  readonly samples: TrunSample[];
}

export function readTrun(box: Box): Trun {
  const header = fullBoxHeader(box);
  const body = box.body;
  const count = body.readUInt32BE(4);
  let pos = 8;
  let dataOffset: number | undefined;
  if (header.flags & 0x001) {
    dataOffset = body.readInt32BE(pos);
    pos += 4;
  }
  if (header.flags & 0x004) pos += 4; // first_sample_flags
  const samples: TrunSample[] = [];
  for (let i = 0; i < count; i++) {
    const s: TrunSample = {};
    if (header.flags & 0x100) s.duration = body.readUInt32BE((pos += 4) - 4);
    if (header.flags & 0x200) s.size = body.readUInt32BE((pos += 4) - 4);
    if (header.flags & 0x400) s.flags = body.readUInt32BE((pos += 4) - 4);
    if (header.flags & 0x800) {
      s.compositionOffset = header.version === 1 ? body.readInt32BE(pos) : body.readUInt32BE(pos);
      pos += 4;
    }
    samples.push(s);
  }
  if (pos !== body.length) throw new Error(`trun: ${body.length - pos} bytes left over`);
  return { ...header, dataOffset, samples };
}
