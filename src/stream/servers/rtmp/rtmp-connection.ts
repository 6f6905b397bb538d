import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { errorText } from '../../../common/errors';
import { peerText, RefusalLog } from '../../../common/peer-text';
import { AppConfig } from '../../../config/app-config';
import { CLUSTER_PULL_PARAM } from '../../cluster/cluster-names';
import { AccessRefusal } from '../../core/admission';
import { MediaPacket } from '../../core/media-packet';
import { PlayerOutput } from '../../core/player-output';
import { PlaySession, PublishSession } from '../../core/session';
import { StreamAccess, StreamPlayer } from '../../core/stream-access';
import { StreamPacket, WireForm } from '../../core/stream-packet';
import { rtmpMessageForm } from '../../protocols/rtmp/rtmp-chunk';
import { RtmpProtocol } from '../../protocols/rtmp/rtmp-protocol';

type State = 'handshake' | 'connected' | 'admitting' | 'publishing' | 'playing' | 'closed';

export interface RtmpConnectionContext {
  readonly config: AppConfig;
  readonly access: StreamAccess;
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
export class RtmpConnection implements StreamPlayer {
  readonly remoteAddress: string;
  private readonly protocol: RtmpProtocol;
  private state: State = 'handshake';
  private app = '';
  private host = '';
  /** Another node of the cluster pulls a room it does not own (README "Cluster"): served only what this node owns. */
  private clusterPull = false;
  private streamId = 0;
  private publisher: PublishSession | undefined;
  private player: PlaySession | undefined;
  private output: PlayerOutput | undefined;
  /** The RTMP form of media for this player (its stream id and chunk size), shared with its peers. */
  private form: WireForm | undefined;
  /** The chunk size `form` was made for (the peer may change it while it plays). */
  private formChunkSize = 0;
  /** Aborted when the connection closes, so that an admission still running opens nothing. */
  private readonly gone = new AbortController();
  private readonly firstCommandTimer: NodeJS.Timeout;
  /** Armed while output waits in our queue and the peer is not a player; cleared on drain. */
  private writeTimer: NodeJS.Timeout | undefined;

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

  /** Whether this connection publishes a stream. */
  get isPublishing(): boolean {
    return this.state === 'publishing';
  }

  /** Drain (README "Cluster"): asks the publisher to reconnect (E-RTMP v2) before the connection closes. */
  requestReconnect(description: string): void {
    if (this.state === 'publishing') this.protocol.requestReconnect(description);
  }

  /** StreamPlayer: admitted to play; Play.Start goes out before the first packet. */
  begin(session: PlaySession): void {
    this.player = session;
    this.state = 'playing';
    this.socket.setTimeout(0);
    this.protocol.acceptPlay(this.streamId);
    this.output = new PlayerOutput(
      this.socket,
      this.context.config.write_timeout * 1000,
      (reason) => this.close(reason),
    );
  }

  /** StreamPlayer: a packet of the stream this connection plays. */
  deliver(packet: StreamPacket): void {
    const { output, player } = this;
    if (!output || !player) return;
    const chunkSize = this.protocol.outChunkSize;
    if (!this.form || this.formChunkSize !== chunkSize) {
      this.form = rtmpMessageForm(this.streamId, chunkSize);
      this.formChunkSize = chunkSize;
    }
    const bytes = packet.wire(this.form);
    if (output.write(packet, bytes)) player.sent(packet, bytes.length);
  }

  publishEnded(): void {
    if (this.state === 'playing') this.protocol.sendStreamEnd(this.streamId);
    // An edge's upstream ends with the publish: the edge looks the room up again (README "Cluster").
    if (this.clusterPull) this.close();
  }

  /** SessionEndpoint: the core ends this session (replacement, revocation, a kick). */
  stop(reason: string): void {
    this.context.logger.log(`${this.scheme} ${this.remoteAddress}: ${reason}; disconnecting`);
    this.close();
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
    this.context.access.traffic.bytesIn += data.length;
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
    this.clusterPull = tcUrl.searchParams.has(CLUSTER_PULL_PARAM);
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
    const { scheme, host, app } = this;
    const result = await this.context.access.publish(
      {
        app,
        name,
        protocol: scheme,
        remoteAddress: this.remoteAddress,
        streamId,
        url: (room) => `${scheme}://${host}/${app}/${room}`,
        signal: this.gone.signal,
      },
      this,
    );
    if (this.state !== 'admitting') {
      if (result.ok) result.session.end(); // closed while the key was checked
      return;
    }
    if (!result.ok) {
      this.warn(`publish on "${peerText(app)}" refused: ${result.message}`, 'closing');
      this.protocol.refusePublish(streamId, publishRefusalCode(result), result.message);
      this.close();
      return;
    }
    this.streamId = streamId;
    this.publisher = result.session;
    // Publish.Start goes out only now, after the key check (README "Publish and watch").
    this.protocol.acceptPublish(streamId, `/${app}/${result.session.room}`);
    this.state = 'publishing';
    this.context.logger.log(
      `${scheme} ${this.remoteAddress} publishes ${result.session.streamKey}`,
    );
  }

  private onMedia(packet: MediaPacket): void {
    // Media before Publish.Start is dropped.
    if (this.state === 'publishing')
      this.publisher?.push(packet.type, packet.timestamp, packet.payload);
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
    this.state = 'admitting';
    this.streamId = streamId;
    const { scheme, host, app } = this;
    const result = await this.context.access.play(
      {
        app,
        room: name,
        protocol: this.clusterPull ? 'relay' : scheme,
        remoteAddress: this.remoteAddress,
        streamId,
        url: `${scheme}://${host}/${app}/${name}`,
        signal: this.gone.signal,
        clusterPull: this.clusterPull,
        mustBeLive: this.clusterPull,
      },
      this,
    );
    if (!result.ok) {
      if (this.state !== 'admitting') return; // closed while the hooks were asked
      if (result.reason === 'app')
        this.warn(`play of "${peerText(`${app}/${name}`)}" refused`, 'closing');
      this.protocol.refusePlay(
        streamId,
        result.reason === 'app' ? 'NetStream.Play.StreamNotFound' : 'NetStream.Play.Failed',
        result.message,
      );
      this.close();
      return;
    }
    this.context.logger.log(`${scheme} ${this.remoteAddress} plays ${result.session.streamKey}`);
  }

  private onCloseStream(): void {
    if (this.state === 'publishing') this.close();
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    const wasPublishing = this.state === 'publishing';
    this.state = 'closed';
    this.gone.abort();
    clearTimeout(this.firstCommandTimer);
    clearTimeout(this.writeTimer);
    this.output?.close();
    this.player?.end();
    const publisher = this.publisher;
    if (publisher) {
      publisher.end();
      if (wasPublishing)
        this.context.logger.log(
          `${this.scheme} ${this.remoteAddress} stopped publishing ${publisher.streamKey}`,
        );
    }
  }
}

/** The RTMP status of a refused publish: a key store or hook that said no is `Unauthorized`. */
function publishRefusalCode(refusal: AccessRefusal): string {
  return refusal.reason === 'store' || refusal.reason === 'hook'
    ? 'NetStream.Publish.Unauthorized'
    : 'NetStream.Publish.BadName';
}
