import { MediaPacket } from '../../core/media-packet';
import { Amf0Out, Amf0Value } from './amf0';
import { RtmpEndpoint } from './rtmp-endpoint';
import { Command, RtmpLimits } from './rtmp-messages';

/** What the client side of a connection hears from the server. */
export interface RtmpClientEvents {
  output(bytes: Buffer): void;
  media(packet: MediaPacket): void;
  /** `_result`, `_error` or `onStatus`; `info` is the status object or the result value. */
  reply(name: string, transId: number, info: Amf0Value): void;
}

/**
 * The client side of an RTMP connection (relays): the owner does the handshake and then feeds the
 * server's bytes; commands are sent with `command`.
 */
export class RtmpClientProtocol extends RtmpEndpoint {
  private transactions = 1;

  constructor(
    private readonly events: RtmpClientEvents,
    limits: RtmpLimits,
  ) {
    super(events, limits);
  }

  /**
   * Sends a command (AMF0): its name, a new transaction id, then `args` (the command object first) on
   * message stream `streamId`. Returns the transaction id.
   */
  command(name: string, args: readonly Amf0Out[], streamId = 0): number {
    const transId = this.transactions++;
    this.sendCommand(streamId, [name, transId, ...args]);
    return transId;
  }

  /** Announces the chunk size we send with from now on. */
  setChunkSize(size: number): void {
    this.announceChunkSize(size);
  }

  protected onCommand({ name, transId, args }: Command): void {
    if (name === '_result' || name === '_error' || name === 'onStatus') {
      this.events.reply(name, transId, args[0]);
    }
    // onBWDone and other server calls need no answer from a relay.
  }
}
