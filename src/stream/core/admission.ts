import { Injectable } from '@nestjs/common';
import { errorText } from '../../common/errors';
import { isValidName } from '../../common/names';
import { peerText } from '../../common/peer-text';
import { AppConfig, AppEntry, findApp } from '../../config/app-config';
import { AdmissionHooks } from '../../events/admission-hooks';
import { isKeyShaped, KeyService } from '../../key/key.service';
import { PlayProtocol, PublishProtocol } from './session';

/**
 * Why access was refused; `app`, `name`, `key`, `store` and `hook` are also the `reason` of the
 * `publish.refused` event and of `livego_publishes_total{result="refused"}`.
 */
export type RefusalReason = 'app' | 'name' | 'key' | 'store' | 'hook' | 'not-live' | 'closed';

export interface AccessRefusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  /** For the peer and the log: our own words, with what the peer sent escaped. */
  readonly message: string;
}

/** Who asks, on which protocol, for which stream. */
export interface AccessRequest {
  readonly app: string;
  readonly remoteAddress: string;
  /** RTMP message stream id (0 for HTTP). */
  readonly streamId?: number;
  /** Aborted when the peer leaves while it waits (for the key store or a hook): nothing is opened then. */
  readonly signal?: AbortSignal;
  /**
   * Started by an API call (a relay): the call is the authority, so no key and no hook is asked; the app
   * only has to be configured.
   */
  readonly byApi?: boolean;
}

export interface PublishRequest extends AccessRequest {
  readonly protocol: PublishProtocol;
  /** What the peer published with: a key (or, with `rtmp_noauth`, a room name). */
  readonly name: string;
  /** The session's URL for stats, given the room it was admitted to (never the key). */
  readonly url: (room: string) => string;
  /**
   * A copy of a room live on another node (an edge pull, README "Cluster"): opened like an API publish, and it never
   * claims the room.
   */
  readonly pulled?: boolean;
}

export interface PlayRequest extends AccessRequest {
  readonly protocol: PlayProtocol;
  readonly room: string;
  /** The path the player used, for stats. */
  readonly url: string;
  /** Refuse (`not-live`) when nobody publishes the room right now; RTMP players wait instead. */
  readonly mustBeLive?: boolean;
  /**
   * Another node pulls this room (README "Cluster"): served only when this node owns it live (never a pulled copy,
   * so edges never pull from edges), and it never starts a pull here.
   */
  readonly clusterPull?: boolean;
}

export type PublishVerdict =
  { readonly ok: true; readonly room: string; readonly key: string | undefined } | AccessRefusal;
export type PlayVerdict = { readonly ok: true } | AccessRefusal;

export function refusal(reason: RefusalReason, message: string): AccessRefusal {
  return { ok: false, reason, message };
}

/** Whether `protocol` may read an app: RTMP needs `live`, HTTP-FLV `flv`, HLS `hls`. */
function servesPlay(entry: AppEntry, protocol: PlayProtocol): boolean {
  if (protocol === 'http-flv') return entry.flv;
  if (protocol === 'hls') return entry.hls;
  return entry.live;
}

/**
 * The rules of who may publish or play what: the app's config, the key store, the admission hooks. The
 * store may be Redis and a hook may be remote: one that does not answer refuses (fails closed). Asked by
 * StreamAccess only.
 */
@Injectable()
export class StreamAdmission {
  constructor(
    private readonly config: AppConfig,
    private readonly keys: KeyService,
    private readonly hooks: AdmissionHooks,
  ) {}

  async publish(request: PublishRequest): Promise<PublishVerdict> {
    const { app, name } = request;
    const entry = findApp(this.config, app);
    if (request.byApi) {
      if (!entry) return refusal('app', `app "${peerText(app)}" is not configured`);
      if (!isValidName(name)) return refusal('name', 'invalid stream name');
      return { ok: true, room: name, key: undefined };
    }
    if (!entry || !entry.live)
      return refusal('app', `application "${peerText(app)}" does not accept publishing`);
    if (!isValidName(name)) return refusal('name', 'invalid stream name');
    let room: string | undefined;
    try {
      room = await this.keys.roomForPublishName(name, this.config.rtmp_noauth);
    } catch (error) {
      return refusal('store', `key check failed: ${errorText(error)}`);
    }
    if (room === undefined) return refusal('key', 'unknown or revoked stream key');
    const verdict = await this.hooks.checkPublish({
      app,
      room,
      protocol: request.protocol,
      remote_addr: request.remoteAddress,
    });
    if (!verdict.allowed) return refusal('hook', verdict.reason);
    // Admitted by key unless rtmp_noauth took the name as the room itself.
    return { ok: true, room, key: isKeyShaped(name) && room !== name ? name : undefined };
  }

  /** Whether `app/room` can be played on `protocol` at all (the app's config and the name), at once. */
  serves(app: string, room: string, protocol: PlayProtocol, byApi = false): boolean {
    const entry = findApp(this.config, app);
    return entry !== undefined && (byApi || servesPlay(entry, protocol)) && isValidName(room);
  }

  async play(request: PlayRequest): Promise<PlayVerdict> {
    const { app, room } = request;
    if (!this.serves(app, room, request.protocol, request.byApi))
      return refusal('app', `no stream "${peerText(`${app}/${room}`)}"`);
    if (request.byApi || !this.hooks.hasPlayHooks) return { ok: true };
    const verdict = await this.hooks.checkPlay({
      app,
      room,
      protocol: request.protocol,
      remote_addr: request.remoteAddress,
    });
    return verdict.allowed ? { ok: true } : refusal('hook', verdict.reason);
  }
}
