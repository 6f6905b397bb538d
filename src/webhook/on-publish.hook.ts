import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AdmissionHooks, AdmissionRequest } from '../events/admission-hooks';
import { EVENT_HEADER, sign, SIGNATURE_HEADER } from './webhook-signature';

/** How long `on_publish` may take; a slower answer refuses the publish. */
export const ON_PUBLISH_TIMEOUT_MS = 3000;

/**
 * `on_publish` (as in SRS and nginx-rtmp): before NetStream.Publish.Start, POST the publish (app, room,
 * protocol, remote_addr; never the key) to a URL; any answer but 2xx refuses it, and so does no answer.
 */
@Injectable()
export class OnPublishHook implements OnModuleInit, OnApplicationShutdown {
  private unregister: (() => void) | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly hooks: AdmissionHooks,
  ) {}

  onModuleInit(): void {
    const url = this.config.on_publish;
    if (!url) return;
    this.unregister = this.hooks.register({
      name: 'on_publish',
      timeoutMs: ON_PUBLISH_TIMEOUT_MS,
      checkPublish: (request) => this.ask(url, request),
    });
  }

  /** After the media plane stopped accepting publishes (see WebhookModule): none slips past the check. */
  onApplicationShutdown(): void {
    this.unregister?.();
  }

  private async ask(
    url: string,
    request: AdmissionRequest,
  ): Promise<{ allow: boolean; reason?: string }> {
    const body = JSON.stringify({
      event: 'on_publish',
      time: new Date().toISOString(),
      ...request,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'livego-nest-webhook',
      [EVENT_HEADER]: 'on_publish',
    };
    if (this.config.webhook_secret)
      headers[SIGNATURE_HEADER] = sign(body, this.config.webhook_secret);
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(ON_PUBLISH_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok
      ? { allow: true }
      : { allow: false, reason: `on_publish answered ${response.status}` };
  }
}
