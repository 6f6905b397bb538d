import { peerText } from '../../common/peer-text';
import { Injectable } from '@nestjs/common';
import { errorText } from '../../common/errors';
import { isValidName } from '../../common/names';
import { AppConfig, findApp } from '../../config/app-config';
import { AdmissionHooks } from '../../events/admission-hooks';
import { StreamEventBus } from '../../events/stream-event-bus';
import { StreamEvent } from '../../events/stream-events';
import { isKeyShaped, KeyService } from '../../key/key.service';
import { MetricsService } from '../../metrics/metrics.service';

export type Admission =
  | { readonly admitted: true; readonly room: string; readonly key: string | undefined }
  | {
      readonly admitted: false;
      readonly code: string;
      readonly reason: string;
      /** Short metric label: app, name, key, store or hook. */
      readonly label: string;
    };

/** Who asks to publish. */
export interface Peer {
  readonly protocol: string;
  readonly remoteAddress: string;
}

const BAD_NAME = 'NetStream.Publish.BadName';
const UNAUTHORIZED = 'NetStream.Publish.Unauthorized';

function refuse(label: string, reason: string, code = BAD_NAME): Admission {
  return { admitted: false, code, reason, label };
}

/**
 * Decides whether a publish name may publish on an app (SPEC §5): the app must be configured with
 * `live: true` and the name must be a live key, or with `rtmp_noauth` a valid room name; then every
 * registered admission hook must agree. The store may be Redis and a hook may be remote: one that does
 * not answer refuses (fails closed).
 */
@Injectable()
export class PublishAdmission {
  constructor(
    private readonly config: AppConfig,
    private readonly keys: KeyService,
    private readonly metrics: MetricsService,
    private readonly hooks: AdmissionHooks,
    private readonly events: StreamEventBus,
  ) {}

  async admit(app: string, name: string, peer: Peer): Promise<Admission> {
    const admission = await this.decide(app, name, peer);
    if (admission.admitted) {
      this.metrics.publishAdmitted();
    } else {
      this.metrics.publishRefused(admission.label);
      this.events.emit(StreamEvent.PublishRefused, {
        app,
        protocol: peer.protocol,
        remote_addr: peer.remoteAddress,
        reason: admission.label,
        description: admission.reason,
      });
    }
    return admission;
  }

  private async decide(app: string, name: string, peer: Peer): Promise<Admission> {
    const entry = findApp(this.config, app);
    if (!entry || !entry.live)
      return refuse('app', `application "${peerText(app)}" does not accept publishing`);
    if (!isValidName(name)) return refuse('name', 'invalid stream name');
    let room: string | undefined;
    try {
      room = await this.keys.roomForPublishName(name, this.config.rtmp_noauth);
    } catch (error) {
      return refuse('store', `key check failed: ${errorText(error)}`, UNAUTHORIZED);
    }
    if (room === undefined) return refuse('key', 'unknown or revoked stream key');
    const verdict = await this.hooks.checkPublish({
      app,
      room,
      protocol: peer.protocol,
      remote_addr: peer.remoteAddress,
    });
    if (!verdict.allowed) return refuse('hook', verdict.reason, UNAUTHORIZED);
    // Admitted by key unless rtmp_noauth took the name as the room itself.
    return { admitted: true, room, key: isKeyShaped(name) && room !== name ? name : undefined };
  }
}
