import { Module } from '@nestjs/common';
import { OnPublishHook } from './on-publish.hook';
import { WebhookService } from './webhook.service';

/**
 * Webhooks (`webhooks`, `webhook_secret`, `on_publish`). Built only on the extension surface other teams
 * use too (StreamEvents and AdmissionHooks, src/events/): a worked example of a module that reacts to
 * streams and gates them without touching src/stream/.
 */
@Module({ providers: [WebhookService, OnPublishHook] })
export class WebhookModule {}
