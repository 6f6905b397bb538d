/**
 * Where finished segments go when they are not kept in memory (`hls_dir`). The playlists hand each
 * finished segment over and serve it from memory until `save` resolves, then from the file; they remove
 * it when it leaves the window.
 */
export interface SegmentStore {
  /** Writes a finished segment; resolves with the path to read it from (rejects: it stays in memory). */
  save(name: string, data: Buffer): Promise<string>;
  remove(path: string): void;
}

/** What a request for a segment, part or init section finds. */
export interface HlsFile {
  /** The bytes, when in memory (empty when on disk). */
  readonly data: Buffer;
  /** On disk: the file, and where in it these bytes start and how many there are. */
  readonly path?: string;
  readonly start?: number;
  readonly length?: number;
  readonly videoBytes: number;
  readonly audioBytes: number;
}

export const NO_BYTES = Buffer.alloc(0);
