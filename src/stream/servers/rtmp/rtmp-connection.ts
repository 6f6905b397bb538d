import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { errorText } from '../../../common/errors';
import { AdmissionHooks } from '../../../events/admission-hooks';
import { traffic } from '../../../metrics/traffic';
import { isValidName } from '../../../common/names';
import { peerText, RefusalLog } from '../../../common/peer-text';
import { AppConfig, findApp } from '../../../config/app-config';
import {
  countMediaBytes,
  LiveStream,
  Publisher,
  SessionInfo,
  StreamSubscriber,
} from '../../core/live-stream';
import { MediaPacket } from '../../core/media-packet';
import { PlayerOutput } from '../../core/player-output';
import { PublishAdmission } from '../../core/publish-admission';
import { newSessionId, StreamRegistry } from '../../core/stream-registry';
import { StreamPacket } from '../../core/stream-packet';
import { RtmpProtocol } from '../../protocols/rtmp/rtmp-protocol';

type State = 'handshake' | 'connected' | 'admitting' | 'publishing' | 'playing' | 'closed';

export interface RtmpConnectionContext {
  readonly config: AppConfig;
  readonly registry: StreamRegistry;
  readonly admission: PublishAdmission;
  readonly hooks: AdmissionHooks;
  readonly logger: Logger;
  /** Warnings about what peers did wrong, bounded per address. */
  readonly refusals: RefusalLog;
}

/**
 * Bytes queued for a peer that does not play (handshake, commands, a publisher's acknowledgements): what
 * it asked for is small, so a peer with this much unread is not reading at all.
 */
export const MAX_PENDING_OUTPUT_BYTES = 1024 * 1024;

/**
 * One RTMP or RTMPS connection: the protocol engine fed from the socket, then either a publisher of one
 * stream or a player of one. Anything the peer does wrong closes this connection and nothing else.
 */
export class RtmpConnection implements StreamSubscriber {
  readonly id = newSessionId();
  readonly remoteAddress: string;
  private readonly protocol: RtmpProtocol;
  private state: State = 'handshake';
  private app = '';
  private host = '';
  private streamId = 0;
  private stream: LiveStream | undefined;
  private publisher: Publisher | undefined;
  private output: PlayerOutput | undefined;
  private readonly firstCommandTimer: NodeJS.Timeout;
  /** Armed while output waits in our queue and the peer is not a player; cleared on drain. */
  private writeTimer: NodeJS.Timeout | undefined;
  readonly since = new Date();
  /** Set once this connection plays: what stats show of it. */
  session: SessionInfo | undefined;

  constructor(
    private readonly socket: Socket,
    readonly scheme: 'rtmp' | 'rtmps',
    private readonly context: RtmpConnectionContext,
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const { config } = context;
    this.protocol = new RtmpProtocol(
      {
        output: (bytes) => this.send(bytes),
        connect: (app, tcUrl) => this.onConnect(app, tcUrl),
        publish: (name, streamId) => void this.onPublish(name, streamId),
        play: (name, streamId) => void this.onPlay(name, streamId),
        closeStream: () => this.onCloseStream(),
        media: (packet) => this.onMedia(packet),
      },
      { maxMessageSizeBytes: config.max_message_size },
    );
    const readTimeoutMs = config.read_timeout * 1000;
    // The handshake and `connect` must both arrive within read_timeout, however slowly bytes trickle in.
    this.firstCommandTimer = setTimeout(
      () => this.close('handshake or connect slower than read_timeout'),
      readTimeoutMs,
    );
    this.firstCommandTimer.unref();
    socket.setNoDelay(true);
    socket.setTimeout(readTimeoutMs);
    socket.on('timeout', () => this.onIdle());
    socket.on('drain', () => this.onDrain());
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (error) =>
      this.context.logger.debug(`${this.remoteAddress}: ${error.message}`),
    );
    socket.on('close', () => this.onClosed());
  }

  /** Closes the connection; `reason` is logged at warn when the peer did something wrong. */
  close(reason?: string): void {
    if (this.state === 'closed') return;
    if (reason) this.warn(reason, 'closing');
    this.socket.end();
    this.socket.destroySoon();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClosed();
  }

  /** StreamSubscriber: a packet of the stream this connection plays. */
  deliver(packet: StreamPacket): void {
    const { output, session } = this;
    if (!output || !session) return;
    const bytes = packet.rtmpMessage(this.streamId, this.protocol.outChunkSize);
    if (output.write(packet, bytes)) countMediaBytes(session, packet, bytes.length);
  }

  publishEnded(): void {
    if (this.state === 'playing') this.protocol.sendStreamEnd(this.streamId);
  }

  get isPublishing(): boolean {
    return this.state === 'publishing';
  }

  get admittedKey(): string | undefined {
    return this.publisher?.key;
  }

  get room(): string | undefined {
    return this.stream?.room;
  }

  private send(bytes: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    socket.write(bytes);
    // A player's queue is bounded by its PlayerOutput; every other peer gets this bound and write_timeout.
    if (this.output || socket.writableLength === 0) return;
    if (socket.writableLength > MAX_PENDING_OUTPUT_BYTES) {
      this.close(`peer does not read: more than ${MAX_PENDING_OUTPUT_BYTES} bytes unread`);
    } else if (!this.writeTimer) {
      this.writeTimer = setTimeout(
        () => this.close('peer stopped reading for longer than write_timeout'),
        this.context.config.write_timeout * 1000,
      );
      this.writeTimer.unref();
    }
  }

  private onDrain(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
  }

  /**
   * A warning about this peer, through the per-address refusal log; `reason` is our own text (peer
   * strings in it went through peerText, in quotes); neither its quoted parts nor its digits make
   * it a new kind of refusal.
   */
  private warn(reason: string, outcome: string): void {
    const host = this.socket.remoteAddress ?? '?';
    this.context.refusals.warn(
      host,
      reason.replace(/"[^"]*"/g, '""').replace(/\d+/g, '#'),
      `${this.scheme} ${this.remoteAddress}: ${reason}; ${outcome}`,
    );
  }

  private onData(data: Buffer): void {
    if (this.state === 'closed') return;
    traffic.bytesIn += data.length;
    try {
      this.protocol.feed(data);
    } catch (error) {
      this.close(`protocol error: ${errorText(error)}`);
    }
  }

  private onIdle(): void {
    // Players may stay silent for long; a publisher or a peer that never got going may not.
    if (this.state === 'playing') return;
    this.close(
      this.state === 'publishing'
        ? 'publisher idle longer than read_timeout'
        : 'idle longer than read_timeout',
    );
  }

  private onConnect(app: string, tcUrl: URL): void {
    clearTimeout(this.firstCommandTimer);
    this.app = app;
    this.host = tcUrl.host;
    this.state = 'connected';
  }

  private async onPublish(name: string, streamId: number): Promise<void> {
    if (this.state !== 'connected') {
      this.protocol.refusePublish(
        streamId,
        'NetStream.Publish.BadName',
        'this connection already has a stream',
      );
      return;
    }
    this.state = 'admitting';
    const admission = await this.context.admission.admit(this.app, name, {
      protocol: this.scheme,
      remoteAddress: this.remoteAddress,
    });
    if (this.state !== 'admitting') return; // closed while the key was checked
    if (!admission.admitted) {
      this.warn(`publish on "${peerText(this.app)}" refused: ${admission.reason}`, 'closing');
      this.protocol.refusePublish(streamId, admission.code, admission.reason);
      this.close();
      return;
    }
    this.streamId = streamId;
    const publisher: Publisher = {
      id: this.id,
      protocol: this.scheme,
      remoteAddress: this.remoteAddress,
      url: `${this.scheme}://${this.host}/${this.app}/${admission.room}`,
      streamId,
      since: this.since,
      videoBytes: 0,
      audioBytes: 0,
      key: admission.key,
      stop: (reason) => this.close(reason),
    };
    // Publish.Start goes out only now, after the key check (SPEC §5).
    this.protocol.acceptPublish(streamId, `/${this.app}/${admission.room}`);
    this.state = 'publishing';
    this.publisher = publisher;
    this.stream = this.context.registry.startPublish(this.app, admission.room, publisher);
    this.context.logger.log(`${this.scheme} ${this.remoteAddress} publishes ${this.stream.key}`);
  }

  private onMedia(packet: MediaPacket): void {
    const { publisher, stream } = this;
    if (this.state !== 'publishing' || !publisher || !stream) return; // media before Publish.Start is dropped
    this.context.registry.push(
      stream,
      publisher,
      new StreamPacket(packet.type, packet.timestamp, packet.payload),
    );
  }

  private async onPlay(name: string, streamId: number): Promise<void> {
    if (this.state !== 'connected') {
      this.protocol.refusePlay(
        streamId,
        'NetStream.Play.Failed',
        'this connection already has a stream',
      );
      return;
    }
    const entry = findApp(this.context.config, this.app);
    if (!entry || !entry.live || !isValidName(name)) {
      this.warn(`play of "${peerText(`${this.app}/${name}`)}" refused`, 'closing');
      this.protocol.refusePlay(
        streamId,
        'NetStream.Play.StreamNotFound',
        `no stream "${this.app}/${name}"`,
      );
      this.close();
      return;
    }
    if (this.context.hooks.hasPlayHooks) {
      this.state = 'admitting';
      const verdict = await this.context.hooks.checkPlay({
        app: this.app,
        room: name,
        protocol: this.scheme,
        remote_addr: this.remoteAddress,
      });
      if (this.state !== 'admitting') return; // closed while the hooks were asked
      if (!verdict.allowed) {
        this.protocol.refusePlay(streamId, 'NetStream.Play.Failed', verdict.reason);
        this.close();
        return;
      }
    }
    this.streamId = streamId;
    this.state = 'playing';
    this.socket.setTimeout(0);
    this.protocol.acceptPlay(streamId);
    this.output = new PlayerOutput(
      this.socket,
      this.context.config.write_timeout * 1000,
      (reason) => this.close(reason),
    );
    this.session = {
      id: this.id,
      protocol: this.scheme,
      remoteAddress: this.remoteAddress,
      url: `${this.scheme}://${this.host}/${this.app}/${name}`,
      streamId,
      since: new Date(),
      videoBytes: 0,
      audioBytes: 0,
    };
    this.stream = this.context.registry.attach(this.app, name, this);
    this.context.logger.log(`${this.scheme} ${this.remoteAddress} plays ${this.stream.key}`);
  }

  private onCloseStream(): void {
    if (this.state === 'publishing') this.close();
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    const wasPublishing = this.state === 'publishing';
    this.state = 'closed';
    clearTimeout(this.firstCommandTimer);
    clearTimeout(this.writeTimer);
    this.output?.close();
    const { stream, publisher } = this;
    if (!stream) return;
    if (wasPublishing && publisher) {
      this.context.registry.endPublish(stream, publisher);
      this.context.logger.log(
        `${this.scheme} ${this.remoteAddress} stopped publishing ${stream.key}`,
      );
    } else {
      this.context.registry.detach(stream, this);
    }
  }
}
