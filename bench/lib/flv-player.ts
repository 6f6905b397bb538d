import { Player, PlayerOptions, within } from './player';

const MAX_HEAD_BYTES = 16 * 1024;
/** FLV header (9) + PreviousTagSize0 (4) (FLV spec E.2, E.3). */
const FLV_FILE_HEADER_BYTES = 13;
const FLV_TAG_HEADER_BYTES = 11;
const FLV_PREVIOUS_TAG_SIZE_BYTES = 4;
const FLV_TAG_AUDIO = 8;
const FLV_TAG_VIDEO = 9;
const CR = 0x0d;
const LF = 0x0a;

const enum Body {
  /** Reading the chunk-size line of chunked transfer coding (RFC 9112 §7.1). */
  ChunkSize,
  ChunkData,
  /** CRLF after a chunk's data. */
  ChunkEnd,
  Done,
}

const enum Flv {
  FileHeader,
  TagHeader,
  TagBody,
  TagTrailer,
}

/**
 * A lightweight HTTP-FLV viewer over a raw socket: one GET, the response head, then the body (plain or
 * chunked) walked in place as FLV tags: bytes counted, AVC key frames detected, video timestamps
 * reported. Nothing of the media is copied.
 */
export class FlvPlayer extends Player {
  status = 0;
  private head: Buffer | undefined = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  private headHave = 0;
  private chunked = false;
  private body = Body.ChunkData;
  private chunkLeft = Infinity;
  private chunkSizeText = '';
  private chunkEndLeft = 0;
  private flv = Flv.FileHeader;
  private readonly tagHeader = Buffer.allocUnsafe(FLV_FILE_HEADER_BYTES);
  private tagHeaderHave = 0;
  private tagType = 0;
  private tagLeft = 0;
  private tagSize = 0;
  private firstByte = 0;
  private headDone: ((status: number) => void) | undefined;

  constructor(
    options: PlayerOptions,
    private readonly path: string,
  ) {
    super(options);
  }

  /** Connects and sends the request; resolves once the response head has arrived (any status). */
  async start(): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 10000;
    await within(this.waitConnected(), timeoutMs, 'TCP connect');
    const head = new Promise<number>((resolve) => (this.headDone = resolve));
    this.requestAt = performance.now();
    this.counting = true;
    this.write(
      Buffer.from(
        `GET ${this.path} HTTP/1.1\r\nHost: ${this.options.host}:${this.options.port}\r\n` +
          `User-Agent: livego-bench\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
      ),
    );
    const status = await within(
      Promise.race([head, this.closed.then(() => 0)]),
      timeoutMs,
      'HTTP response',
    );
    if (status !== 200) throw new Error(`HTTP-FLV ${this.path}: status ${status}`);
  }

  protected parse(buffer: Buffer, start: number, end: number): void {
    let pos = start;
    if (this.head) {
      pos = this.readHead(buffer, pos, end);
      if (this.head) return;
    }
    if (!this.chunked) {
      this.flvBytes(buffer, pos, end);
      return;
    }
    while (pos < end && this.body !== Body.Done) {
      if (this.body === Body.ChunkData) {
        const take = Math.min(this.chunkLeft, end - pos);
        this.flvBytes(buffer, pos, pos + take);
        pos += take;
        this.chunkLeft -= take;
        if (this.chunkLeft === 0) {
          this.body = Body.ChunkEnd;
          this.chunkEndLeft = 2;
        }
      } else if (this.body === Body.ChunkEnd) {
        const take = Math.min(this.chunkEndLeft, end - pos);
        pos += take;
        this.chunkEndLeft -= take;
        if (this.chunkEndLeft === 0) this.body = Body.ChunkSize;
      } else {
        const byte = buffer[pos++];
        if (byte === LF) {
          const size = Number.parseInt(this.chunkSizeText.split(';')[0], 16);
          this.chunkSizeText = '';
          if (!Number.isFinite(size)) throw new Error('bad chunk size line');
          if (size === 0) this.body = Body.Done;
          else {
            this.chunkLeft = size;
            this.body = Body.ChunkData;
          }
        } else if (byte !== CR) {
          if (this.chunkSizeText.length > 64) throw new Error('chunk size line too long');
          this.chunkSizeText += String.fromCharCode(byte);
        }
      }
    }
  }

  private readHead(buffer: Buffer, pos: number, end: number): number {
    const head = this.head as Buffer;
    while (pos < end) {
      if (this.headHave >= MAX_HEAD_BYTES) throw new Error('HTTP response head too long');
      head[this.headHave++] = buffer[pos++];
      const n = this.headHave;
      if (
        n >= 4 &&
        head[n - 1] === LF &&
        head[n - 2] === CR &&
        head[n - 3] === LF &&
        head[n - 4] === CR
      ) {
        const text = head.toString('latin1', 0, n);
        this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
        this.chunked = /^transfer-encoding:\s*chunked\s*$/im.test(text);
        this.body = this.chunked ? Body.ChunkSize : Body.ChunkData;
        this.head = undefined;
        this.headDone?.(this.status);
        return pos;
      }
    }
    return pos;
  }

  /** Walks FLV bytes (FLV spec E.2–E.4): file header, then tag header / body / PreviousTagSize. */
  private flvBytes(buffer: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      switch (this.flv) {
        case Flv.FileHeader:
        case Flv.TagHeader: {
          const need = this.flv === Flv.FileHeader ? FLV_FILE_HEADER_BYTES : FLV_TAG_HEADER_BYTES;
          const take = Math.min(need - this.tagHeaderHave, end - pos);
          buffer.copy(this.tagHeader, this.tagHeaderHave, pos, pos + take);
          this.tagHeaderHave += take;
          pos += take;
          if (this.tagHeaderHave < need) return;
          this.tagHeaderHave = 0;
          if (this.flv === Flv.FileHeader) {
            if (this.tagHeader.toString('latin1', 0, 3) !== 'FLV') throw new Error('not FLV');
            this.flv = Flv.TagHeader;
          } else {
            this.startTag();
          }
          break;
        }
        case Flv.TagBody: {
          const take = Math.min(this.tagLeft, end - pos);
          const offset = this.tagSize - this.tagLeft;
          if (this.tagType === FLV_TAG_VIDEO) {
            if (offset === 0) this.firstByte = buffer[pos];
            if (offset <= 1 && offset + take > 1)
              this.sawVideo(this.firstByte, buffer[pos + 1 - offset]);
          }
          if (this.tagType === FLV_TAG_AUDIO || this.tagType === FLV_TAG_VIDEO) {
            this.stats.mediaBytes += take;
          }
          pos += take;
          this.tagLeft -= take;
          if (this.tagLeft === 0) {
            this.flv = Flv.TagTrailer;
            this.tagLeft = FLV_PREVIOUS_TAG_SIZE_BYTES;
          }
          break;
        }
        case Flv.TagTrailer: {
          const take = Math.min(this.tagLeft, end - pos);
          pos += take;
          this.tagLeft -= take;
          if (this.tagLeft === 0) this.flv = Flv.TagHeader;
          break;
        }
      }
    }
  }

  private startTag(): void {
    const h = this.tagHeader;
    this.tagType = h[0] & 0x1f;
    this.tagSize = h.readUIntBE(1, 3);
    this.tagLeft = this.tagSize;
    this.flv = this.tagSize > 0 ? Flv.TagBody : Flv.TagTrailer;
    if (this.tagSize === 0) this.tagLeft = FLV_PREVIOUS_TAG_SIZE_BYTES;
    if (this.tagType === FLV_TAG_VIDEO) {
      this.stats.videoFrames++;
      // Timestamp: UI24 + TimestampExtended as the upper 8 bits (FLV spec E.4.1).
      const timestamp = (h.readUIntBE(4, 3) | (h[7] << 24)) >>> 0;
      this.options.sink?.video(timestamp);
    }
  }
}
