import { peerText } from '../../../common/peer-text';
import { MediaPacket } from '../../core/media-packet';
import { RtmpEndpoint } from './rtmp-endpoint';
import { MAX_CHUNK_SIZE_BYTES, RtmpProtocolError } from './rtmp-chunk-reader';
import { CLIENT_HANDSHAKE_BYTES, HANDSHAKE_PACKET_BYTES, serverHandshake } from './rtmp-handshake';
import {
  Command,
  isAmf0Object,
  RtmpLimits,
  streamName,
  TYPE_SET_PEER_BANDWIDTH,
  TYPE_WINDOW_ACK_SIZE,
  uint32,
  USER_CONTROL_STREAM_BEGIN,
  USER_CONTROL_STREAM_EOF,
} from './rtmp-messages';

export { MAX_CHUNK_SIZE_BYTES, RtmpProtocolError };
export type { RtmpLimits };

/** Window Acknowledgement Size and peer bandwidth the server announces (as common servers do). */
const SERVER_WINDOW_BYTES = 5_000_000;
const PEER_BANDWIDTH_DYNAMIC = 2;
/** Chunk size the server sends with once `connect` is answered. */
const SERVER_CHUNK_SIZE_BYTES = 0xffff;
/** What a connection does with the commands and media its peer sends. */
export interface RtmpEvents {
  /** Bytes for the peer. */
  output(bytes: Buffer): void;
  /** A valid `connect` (app without query string, tcUrl parsed). */
  connect(app: string, tcUrl: URL): void;
  /** `publish`: the connection answers later with acceptPublish / refusePublish. */
  publish(name: string, streamId: number): void;
  /** `play`: answered with acceptPlay / refusePlay. */
  play(name: string, streamId: number): void;
  /** `deleteStream`, `closeStream` or `FCUnpublish`. */
  closeStream(): void;
  media(packet: MediaPacket): void;
}

/** Commands answered with `_result` and nothing else (encoders send them before publish). */
const ACKNOWLEDGED_COMMANDS = new Set([
  'releaseStream',
  'FCPublish',
  'FCSubscribe',
  'getStreamLength',
]);
/** Commands that need no answer. */
const SILENT_COMMANDS = new Set([
  'receiveAudio',
  'receiveVideo',
  'pause',
  'seek',
  '_checkbw',
  'onBWDone',
]);

/** The server side of one RTMP connection: handshake, then commands to RtmpEvents. */
export class RtmpProtocol extends RtmpEndpoint {
  private connected = false;
  private streams = 0;
  /** C0 C1 C2 as they arrive; released once the handshake is done. */
  private handshake: Buffer | undefined = Buffer.allocUnsafe(CLIENT_HANDSHAKE_BYTES);
  private handshakeBytes = 0;

  constructor(
    private readonly events: RtmpEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
  }

  override get heldBytes(): number {
    return super.heldBytes + (this.handshake?.length ?? 0);
  }

  override feed(bytes: Buffer): void {
    const handshake = this.handshake;
    if (!handshake) return super.feed(bytes);
    if (bytes.length === 0) return;
    const taken = Math.min(bytes.length, CLIENT_HANDSHAKE_BYTES - this.handshakeBytes);
    const before = this.handshakeBytes;
    bytes.copy(handshake, before, 0, taken);
    this.handshakeBytes += taken;
    if (before === 0 && handshake[0] !== 3) {
      throw new RtmpProtocolError(`not RTMP: handshake version ${handshake[0]}`);
    }
    const c0c1 = 1 + HANDSHAKE_PACKET_BYTES;
    if (before < c0c1 && this.handshakeBytes >= c0c1) {
      this.events.output(serverHandshake(handshake.subarray(1, c0c1)));
    }
    if (this.handshakeBytes < CLIENT_HANDSHAKE_BYTES) return;
    this.handshake = undefined; // C2 is not checked: clients differ in what they echo
    if (taken < bytes.length) super.feed(bytes.subarray(taken));
  }

  acceptPublish(streamId: number, streamPath: string): void {
    this.sendStatus(
      streamId,
      'status',
      'NetStream.Publish.Start',
      `${streamPath} is now published.`,
    );
  }

  refusePublish(streamId: number, code: string, description: string): void {
    this.sendStatus(streamId, 'error', code, description);
  }

  acceptPlay(streamId: number): void {
    this.sendUserControl(USER_CONTROL_STREAM_BEGIN, streamId);
    this.sendStatus(streamId, 'status', 'NetStream.Play.Reset', 'Playing and resetting stream.');
    this.sendStatus(streamId, 'status', 'NetStream.Play.Start', 'Started playing stream.');
    this.sendData(streamId, ['|RtmpSampleAccess', false, false]);
  }

  refusePlay(streamId: number, code: string, description: string): void {
    this.sendStatus(streamId, 'error', code, description);
  }

  /** Tells a player the stream ended (User Control StreamEOF, RTMP spec 7.1.7) without closing. */
  sendStreamEnd(streamId: number): void {
    this.sendUserControl(USER_CONTROL_STREAM_EOF, streamId);
  }

  protected onCommand(command: Command): void {
    const { name, transId, streamId } = command;
    if (name === 'connect') return this.connect(command);
    if (!this.connected) throw new RtmpProtocolError(`"${peerText(name)}" before connect`);
    switch (name) {
      case 'createStream':
        return this.sendCommand(0, ['_result', transId, null, ++this.streams]);
      case 'publish':
        return this.events.publish(streamName(command), streamId);
      case 'play':
        return this.events.play(streamName(command), streamId);
      case 'deleteStream':
      case 'closeStream':
      case 'FCUnpublish':
        return this.events.closeStream();
      default:
        if (ACKNOWLEDGED_COMMANDS.has(name)) {
          return this.sendCommand(0, ['_result', transId, null, null]);
        }
        if (SILENT_COMMANDS.has(name)) return;
        return this.sendCommand(0, [
          '_error',
          transId,
          null,
          { level: 'error', code: 'NetConnection.Call.Failed', description: 'unknown command' },
        ]);
    }
  }

  private connect(command: Command): void {
    if (this.connected) throw new RtmpProtocolError('a second connect');
    const info = command.object;
    if (!isAmf0Object(info)) throw new RtmpProtocolError('connect without a command object');
    const { app, tcUrl, objectEncoding } = info;
    const appName = typeof app === 'string' ? app.split('?')[0].replace(/\/+$/, '') : '';
    if (!appName) throw new RtmpProtocolError('connect without app');
    let url: URL;
    try {
      url = new URL(typeof tcUrl === 'string' ? tcUrl : '');
    } catch {
      throw new RtmpProtocolError(`connect with a malformed tcUrl`);
    }
    if (!/^rtmp[a-z]{0,2}:$/.test(url.protocol)) {
      throw new RtmpProtocolError('connect with a tcUrl that is not rtmp://');
    }
    this.connected = true;
    this.events.connect(appName, url);
    this.sendControl(TYPE_WINDOW_ACK_SIZE, uint32(SERVER_WINDOW_BYTES));
    const bandwidth = Buffer.alloc(5);
    bandwidth.writeUInt32BE(SERVER_WINDOW_BYTES, 0);
    bandwidth[4] = PEER_BANDWIDTH_DYNAMIC;
    this.sendControl(TYPE_SET_PEER_BANDWIDTH, bandwidth);
    this.announceChunkSize(SERVER_CHUNK_SIZE_BYTES);
    this.sendCommand(0, [
      '_result',
      command.transId,
      { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
      {
        level: 'status',
        code: 'NetConnection.Connect.Success',
        description: 'Connection succeeded.',
        // AMF0 (0) or AMF3 (3); nothing else is a valid answer, whatever the peer sent.
        objectEncoding: objectEncoding === 3 ? 3 : 0,
      },
    ]);
  }

  /**
   * Asks the client to reconnect (Enhanced RTMP v2, "Reconnect Request"): an `onStatus` on stream 0
   * (NetConnection) with level `status`, code `NetConnection.Connect.ReconnectRequest`, a description
   * and, optionally, the `tcUrl` to reconnect to. A client that does not know it ignores it.
   */
  requestReconnect(description: string, tcUrl?: string): void {
    const info: Record<string, string> = {
      level: 'status',
      code: 'NetConnection.Connect.ReconnectRequest',
      description,
    };
    if (tcUrl) info.tcUrl = tcUrl;
    this.sendCommand(0, ['onStatus', 0, null, info]);
  }

  private sendStatus(streamId: number, level: string, code: string, description: string): void {
    this.sendCommand(streamId, ['onStatus', 0, null, { level, code, description }]);
  }
}
