import { Global, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AdmissionHooks } from './admission-hooks';
import { StreamEventBus } from './stream-event-bus';

/** Domain events and admission hooks: the extension surface other modules build on. */
@Global()
@Module({
  imports: [EventEmitterModule.forRoot({ wildcard: false, maxListeners: 100, ignoreErrors: true })],
  providers: [StreamEventBus, AdmissionHooks],
  exports: [StreamEventBus, AdmissionHooks],
})
export class EventsModule {}
