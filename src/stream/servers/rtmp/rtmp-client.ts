import { randomBytes } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errorText } from '../../../common/errors';
import type { RtmpUrl } from '../../../common/urls';
import { MediaPacket } from '../../core/media-packet';
import { PlayerOutput } from '../../core/player-output';
import { StreamPacket, WireForm } from '../../core/stream-packet';
import { rtmpMessageForm } from '../../protocols/rtmp/rtmp-chunk';
import { RtmpClientProtocol } from '../../protocols/rtmp/rtmp-client-protocol';

/** A far end of a relay (see common/urls.ts, the one RTMP URL validator). */
export type RelayTarget = RtmpUrl;

const HANDSHAKE_BYTES = 1536;
/** Connect, handshake and every command answer must come within this. */
const STEP_TIMEOUT_MS = 10_000;
/** Chunk size we announce and send with: large chunks mean few headers. */
const OUT_CHUNK_SIZE = 60_000;
/** Largest message accepted from a far end. */
const MAX_RELAY_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface RelayClientHandlers {
  /** Playing: a media packet from the far end. */
  media?(packet: MediaPacket): void;
  /** Play.Start or Publish.Start arrived. */
  ready(): void;
  /** The connection ended (or never got going); called once. */
  closed(reason: string): void;
}

/**
 * One RTMP(S) client connection to a far end, playing or publishing one stream. The handshake is the
 * simple one (RTMP spec 5.2), which every server accepts from a non-Flash client.
 */
export class RtmpRelayClient {
  private socket: Socket | undefined;
  private protocol: RtmpClientProtocol | undefined;
  private inbox: Buffer = Buffer.alloc(0);
  private handshaken = false;
  private streamId = 0;
  private stepTimer: NodeJS.Timeout | undefined;
  private finished = false;
  private connectId = 0;
  private createStreamId = 0;
  isReady = false;
  private output: PlayerOutput | undefined;
  private form: WireForm | undefined;

  constructor(
    private readonly target: RelayTarget,
    private readonly mode: 'play' | 'publish',
    private readonly handlers: RelayClientHandlers,
    /** Publishing: how long the far end may stop reading before the connection is dropped. */
    private readonly writeTimeoutMs = STEP_TIMEOUT_MS,
  ) {}

  start(): void {
    const { host, port, secure } = this.target;
    const socket = secure
      ? tlsConnect({
          host,
          port,
          servername: isIp(host) ? undefined : host,
          rejectUnauthorized: false,
        })
      : netConnect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.arm('connect');
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      this.arm('handshake');
      socket.write(
        Buffer.concat([Buffer.from([3]), Buffer.alloc(8), randomBytes(HANDSHAKE_BYTES - 8)]),
      );
    });
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (error) => this.finish(errorText(error)));
    socket.on('close', () => this.finish('connection closed'));
  }

  /**
   * Publishing: queues one media message for the far end through a bounded queue (a far end that stops
   * reading for `writeTimeoutMs` is dropped). Returns the bytes queued: 0 before Publish.Start or when
   * the message was skipped to catch up.
   */
  sendMedia(packet: StreamPacket): number {
    const { output, form } = this;
    if (!output || !form) return 0;
    const bytes = packet.wire(form);
    return output.write(packet, bytes) ? bytes.length : 0;
  }

  /** The message stream id the far end gave (0 before createStream's answer). */
  get messageStreamId(): number {
    return this.streamId;
  }

  private write(bytes: Buffer): void {
    if (this.socket && !this.socket.destroyed) this.socket.write(bytes);
  }

  close(reason = 'closed'): void {
    if (this.isReady && this.mode === 'publish' && this.protocol) {
      this.protocol.command('FCUnpublish', [null, this.target.streamName]);
      this.protocol.command('deleteStream', [null, this.streamId]);
    }
    this.socket?.end();
    this.finish(reason);
    const socket = this.socket;
    setTimeout(() => socket?.destroy(), 1000).unref();
  }

  private onData(data: Buffer): void {
    if (this.finished) return;
    try {
      if (this.handshaken) {
        this.protocol?.feed(data);
        return;
      }
      this.inbox = Buffer.concat([this.inbox, data]);
      if (this.inbox.length < 1 + 2 * HANDSHAKE_BYTES) return;
      // S0 S1 S2 received: echo S1 as C2, then everything after is chunk data.
      this.write(Buffer.from(this.inbox.subarray(1, 1 + HANDSHAKE_BYTES)));
      const rest = this.inbox.subarray(1 + 2 * HANDSHAKE_BYTES);
      this.inbox = Buffer.alloc(0);
      this.handshaken = true;
      this.startSession();
      if (rest.length > 0) this.protocol?.feed(rest);
    } catch (error) {
      this.close(`protocol error: ${errorText(error)}`);
    }
  }

  private startSession(): void {
    const protocol = new RtmpClientProtocol(
      {
        output: (bytes) => this.write(bytes),
        media: (packet) => this.handlers.media?.(packet),
        reply: (name, transId, info) => this.onReply(name, transId, info),
      },
      { maxMessageSizeBytes: MAX_RELAY_MESSAGE_BYTES },
    );
    this.protocol = protocol;
    protocol.setChunkSize(OUT_CHUNK_SIZE);
    this.arm('connect answer');
    this.connectId = protocol.command('connect', [
      {
        app: this.target.app,
        type: 'nonprivate',
        flashVer: 'FMLE/3.0 (compatible; livego-nest)',
        tcUrl: this.target.tcUrl,
      },
    ]);
  }

  private onReply(name: string, transId: number, info: unknown): void {
    const protocol = this.protocol;
    if (!protocol) return;
    if (name === '_error') return this.close(`far end refused: ${describe(info)}`);
    if (name === '_result' && transId === this.connectId) {
      this.arm('createStream answer');
      if (this.mode === 'publish') {
        protocol.command('releaseStream', [null, this.target.streamName]);
        protocol.command('FCPublish', [null, this.target.streamName]);
      }
      this.createStreamId = protocol.command('createStream', [null]);
      return;
    }
    if (name === '_result' && transId === this.createStreamId) {
      this.streamId = typeof info === 'number' ? info : 1;
      this.arm(`${this.mode} answer`);
      if (this.mode === 'play') {
        protocol.command('play', [null, this.target.streamName, -2], this.streamId);
      } else {
        protocol.command('publish', [null, this.target.streamName, 'live'], this.streamId);
      }
      return;
    }
    if (name === 'onStatus') {
      const code = statusCode(info);
      if (code === 'NetStream.Play.Start' || code === 'NetStream.Publish.Start') {
        clearTimeout(this.stepTimer);
        this.isReady = true;
        if (this.mode === 'publish' && this.socket) {
          this.form = rtmpMessageForm(this.streamId, OUT_CHUNK_SIZE);
          this.output = new PlayerOutput(this.socket, this.writeTimeoutMs, () =>
            this.close('far end stopped reading'),
          );
        }
        this.handlers.ready();
      } else if (/Failed|BadName|Rejected|Unauthorized|StreamNotFound|Error/.test(code)) {
        this.close(`far end answered ${code}: ${describe(info)}`);
      } else if (code === 'NetStream.Play.UnpublishNotify' || code === 'NetStream.Play.Stop') {
        this.close(`far end ended the stream (${code})`);
      }
    }
  }

  /** Each step of the set-up must finish within STEP_TIMEOUT_MS. */
  private arm(step: string): void {
    clearTimeout(this.stepTimer);
    this.stepTimer = setTimeout(
      () => this.close(`no ${step} within ${STEP_TIMEOUT_MS / 1000} s`),
      STEP_TIMEOUT_MS,
    );
    this.stepTimer.unref();
  }

  private finish(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stepTimer);
    this.isReady = false;
    this.output?.close();
    this.output = undefined;
    this.socket?.destroy();
    this.handlers.closed(reason);
  }
}

function statusCode(info: unknown): string {
  const code =
    typeof info === 'object' && info !== null ? (info as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}

function describe(info: unknown): string {
  const text =
    typeof info === 'object' && info !== null
      ? (info as { description?: unknown }).description
      : undefined;
  return typeof text === 'string' ? text : statusCode(info) || 'no description';
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
