import { Global, Module } from '@nestjs/common';
import { OnPublishHook } from './on-publish.hook';
import { WebhookService } from './webhook.service';

/**
 * Webhooks (`webhooks`, `webhook_secret`, `on_publish`). Built only on the extension surface other teams
 * use too (StreamEvents and AdmissionHooks, src/events/): a worked example of a module that reacts to
 * streams and gates them without touching src/stream/.
 *
 * Global so that it shuts down last: Nest calls global modules' shutdown hooks after every other
 * module's, so the sessions a shutdown closes are gone (and their events queued) before the webhooks
 * flush and `on_publish` unregisters.
 */
@Global()
@Module({ providers: [WebhookService, OnPublishHook] })
export class WebhookModule {}
