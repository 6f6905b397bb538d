import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { StreamEventName, StreamEventPayloads } from './stream-events';

type Fields<E extends StreamEventName> = Omit<StreamEventPayloads[E], 'event' | 'time'>;

/**
 * The typed way the core emits StreamEvents. A listener that throws is logged and cannot disturb the
 * code that emitted.
 */
@Injectable()
export class StreamEventBus {
  private readonly logger = new Logger(StreamEventBus.name);

  constructor(private readonly emitter: EventEmitter2) {}

  emit<E extends StreamEventName>(event: E, fields: Fields<E>): void {
    const payload = { event, time: new Date().toISOString(), ...fields };
    try {
      this.emitter.emit(event, payload);
    } catch (error) {
      this.logger.warn(
        `a listener of ${event} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
