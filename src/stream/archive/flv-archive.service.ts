import {
  accessSync,
  constants,
  createWriteStream,
  mkdirSync,
  openSync,
  WriteStream,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { errorText } from '../../common/errors';
import { AppConfig } from '../../config/app-config';
import { StreamEventBus } from '../../events/stream-event-bus';
import { StreamEvent } from '../../events/stream-events';
import { LiveStream, StreamSubscriber } from '../core/live-stream';
import { StreamAccess } from '../core/stream-access';
import { StreamPacket } from '../core/stream-packet';
import { encodeFlvTag, FLV_TAG, flvFileHeader } from '../protocols/flv/flv-writer';

/** Bytes an archive may have waiting for the disk before it gives up (a stuck disk must not eat memory). */
const MAX_PENDING_ARCHIVE_BYTES = 64 * 1024 * 1024;
/** How long shutdown waits for archives to reach the disk. */
const SHUTDOWN_FLUSH_MS = 3000;

/**
 * One archive file: `flv_dir/{app}/{room}_{unix}.flv`, timestamps rebased to start at 0, closed when the
 * publish ends. A disk problem stops the archive, logged once, and never touches the stream.
 */
class FlvArchive implements StreamSubscriber {
  private out: WriteStream | undefined;
  private base: number | undefined;
  /** Resolves when the file is closed: true when complete, false when the disk failed. */
  readonly done: Promise<boolean>;
  private markDone!: (complete: boolean) => void;

  constructor(
    readonly path: string,
    fd: number,
    private readonly logger: Logger,
  ) {
    this.done = new Promise((resolveDone) => (this.markDone = resolveDone));
    const out = createWriteStream(path, { fd });
    this.out = out;
    out.on('error', (error) => this.fail(errorText(error)));
    out.on('close', () => this.markDone(true));
    out.write(flvFileHeader());
  }

  deliver(packet: StreamPacket): void {
    const out = this.out;
    if (!out) return;
    if (out.writableLength > MAX_PENDING_ARCHIVE_BYTES) {
      this.fail(`more than ${MAX_PENDING_ARCHIVE_BYTES} bytes waiting for the disk`);
      return;
    }
    // The file's timeline starts at its first packet; differences are taken modulo 2^32 (RTMP wraps).
    if (this.base === undefined) this.base = packet.timestamp;
    const timestamp = (packet.timestamp - this.base) >>> 0;
    out.write(
      timestamp === packet.timestamp
        ? packet.wire(FLV_TAG)
        : encodeFlvTag({ type: packet.type, timestamp, payload: packet.payload }),
    );
  }

  publishEnded(): void {
    this.close();
  }

  /** Ends the file; `done` resolves once it is on disk. A second call (shutdown after unpublish) waits too. */
  close(): void {
    const out = this.out;
    this.out = undefined;
    if (out) out.end();
  }

  private fail(reason: string): void {
    const out = this.out;
    this.out = undefined;
    this.logger.error(`archive ${this.path} stopped: ${reason}; the stream is not affected`);
    out?.destroy();
    this.markDone(false);
  }
}

/** `flv_archive`: records every publish to `flv_dir/{app}/{room}_{unix}.flv` (README "Recording"). */
@Injectable()
export class FlvArchiveService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(FlvArchiveService.name);
  private readonly open = new Set<FlvArchive>();

  constructor(
    private readonly config: AppConfig,
    private readonly access: StreamAccess,
    private readonly events: StreamEventBus,
  ) {}

  onModuleInit(): void {
    if (!this.config.flv_archive) return;
    const dir = resolve(this.config.flv_dir);
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      this.logger.log(`recording every publish under ${dir}`);
    } catch (error) {
      // Not fatal: streams work without archives; each publish will report the failure again.
      this.logger.error(
        `flv_dir ${dir} is not writable (${errorText(error)}): publishes will not be recorded`,
      );
    }
    this.access.onPublish((stream) => this.start(stream));
  }

  /** Finishes every open archive so that each file is complete when the process exits. */
  async onApplicationShutdown(): Promise<void> {
    const pending = [...this.open];
    for (const archive of pending) archive.close();
    await Promise.race([
      Promise.all(pending.map((archive) => archive.done)),
      new Promise((resolveLater) => setTimeout(resolveLater, SHUTDOWN_FLUSH_MS).unref()),
    ]);
  }

  private start(stream: LiveStream): StreamSubscriber | undefined {
    const dir = join(this.config.flv_dir, stream.app);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      this.logger.error(
        `archive of ${stream.key} not recorded: cannot create ${dir}: ${errorText(error)}`,
      );
      return undefined;
    }
    let file: { path: string; fd: number };
    try {
      file = createArchiveFile(dir, stream.room, Math.floor(Date.now() / 1000));
    } catch (error) {
      this.logger.error(`archive of ${stream.key} not recorded: ${errorText(error)}`);
      return undefined;
    }
    const { path } = file;
    const archive = new FlvArchive(path, file.fd, this.logger);
    this.open.add(archive);
    archive.done
      .then((complete) => {
        this.open.delete(archive);
        this.logger.log(`archive ${path} closed`);
        this.events.emit(StreamEvent.ArchiveFinished, {
          app: stream.app,
          room: stream.room,
          path,
          complete,
        });
      })
      .catch((error: unknown) =>
        this.logger.error(`archive ${path}: closing failed: ${errorText(error)}`),
      );
    return archive;
  }
}

/** Names tried for one room in one second: `{room}_{unix}.flv`, then `{room}_{unix}-2.flv`, … */
const MAX_ARCHIVES_PER_SECOND = 100;

/**
 * Creates `{room}_{unix}.flv` in `dir`, never over an existing file: a second publish of the room in the
 * same second (an encoder reconnecting) gets `{room}_{unix}-2.flv`, so both recordings survive.
 */
function createArchiveFile(dir: string, room: string, unix: number): { path: string; fd: number } {
  for (let n = 1; n <= MAX_ARCHIVES_PER_SECOND; n++) {
    const path = join(dir, `${room}_${unix}${n === 1 ? '' : `-${n}`}.flv`);
    try {
      return { path, fd: openSync(path, 'wx') };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Error(`cannot create ${path}: ${errorText(error)}`, { cause: error });
      }
    }
  }
  throw new Error(
    `more than ${MAX_ARCHIVES_PER_SECOND} archives of ${room} in one second in ${dir}`,
  );
}
