import type { RtmpUrl } from '../../common/urls';
import { StreamEventBus } from '../../events/stream-event-bus';
import { RelayEvent, StreamEvent } from '../../events/stream-events';

type RelayFields = Omit<RelayEvent, 'event' | 'time'>;

/** The relay.* events of one relay, its payload built once. */
export class RelayEvents {
  private readonly fields: RelayFields;

  constructor(
    private readonly bus: StreamEventBus,
    direction: 'pull' | 'push',
    app: string,
    room: string,
    target: RtmpUrl,
  ) {
    this.fields = { direction, app, room, url: target.redacted };
  }

  started(): void {
    this.bus.emit(StreamEvent.RelayStarted, this.fields);
  }

  stopped(): void {
    this.bus.emit(StreamEvent.RelayStopped, this.fields);
  }

  failed(reason: string): void {
    this.bus.emit(StreamEvent.RelayFailed, { ...this.fields, reason });
  }
}
