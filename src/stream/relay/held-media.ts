import { MediaPacket } from '../core/media-packet';
import { PublishSession } from '../core/session';

/** Media held while the local publish is being opened (a few packets: it takes a turn of the event loop). */
const MAX_HELD_PACKETS = 1024;

/**
 * The media a pull receives before StreamAccess has opened its local publish: held, bounded, then handed
 * to the session in order once it opens (a pull relay's, or a cluster edge's copy of a room).
 */
export class HeldMedia {
  private packets: MediaPacket[] | undefined;

  /** A publish is being opened: new media waits here. */
  get opening(): boolean {
    return this.packets !== undefined;
  }

  /** Holds `packet`; true when it is the first one, so the caller starts opening the publish. */
  hold(packet: MediaPacket): boolean {
    if (this.packets) {
      if (this.packets.length < MAX_HELD_PACKETS) this.packets.push(packet);
      return false;
    }
    this.packets = [packet];
    return true;
  }

  /** The publish opened: what was held goes to it, in order. */
  release(session: PublishSession): void {
    const packets = this.packets ?? [];
    this.packets = undefined;
    for (const packet of packets) session.push(packet.type, packet.timestamp, packet.payload);
  }

  drop(): void {
    this.packets = undefined;
  }
}
