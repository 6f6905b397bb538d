/**
 * The domain events of livego-nest, emitted through `@nestjs/event-emitter` (EventEmitter2). A module
 * that wants to react to streams listens with `@OnEvent(StreamEvent.PublishAdmitted)` and receives the
 * payload type named below; it never needs to touch `src/stream/`.
 *
 * Events are emitted after the fact and synchronously with the media path: a listener must return
 * quickly (queue slow work). Nothing in the core listens to these events for its own behaviour, so a
 * listener cannot break the server; an exception in a listener is logged and dropped.
 *
 * Secrets never travel in events: publish keys are not included, only rooms.
 */
export const StreamEvent = {
  /** A publish passed every check and is live. Payload: PublishEvent. */
  PublishAdmitted: 'publish.admitted',
  /** A publish was refused before NetStream.Publish.Start. Payload: PublishRefusedEvent. */
  PublishRefused: 'publish.refused',
  /** A live publish ended (disconnect, revocation, replacement, relay drop). Payload: PublishEvent. */
  PublishEnded: 'publish.ended',
  /** A player started watching (rtmp, rtmps, http-flv, hls, relay). Payload: PlayerEvent. */
  PlayerJoined: 'player.joined',
  /** A player stopped watching. Payload: PlayerEvent. */
  PlayerLeft: 'player.left',
  /** A room got its first key. Payload: KeyEvent. */
  KeyCreated: 'key.created',
  /** A room's key was replaced; the old one is revoked. Payload: KeyEvent. */
  KeyReset: 'key.reset',
  /** A room and its key were deleted. Payload: KeyEvent. */
  KeyDeleted: 'key.deleted',
  /** A pull or push relay was started through the API or by static_push. Payload: RelayEvent. */
  RelayStarted: 'relay.started',
  /** A relay was stopped. Payload: RelayEvent. */
  RelayStopped: 'relay.stopped',
  /** A relay's connection to the far end failed or dropped; it will retry. Payload: RelayFailedEvent. */
  RelayFailed: 'relay.failed',
  /** An FLV archive was closed. Payload: ArchiveEvent. */
  ArchiveFinished: 'archive.finished',
} as const;

export type StreamEventName = (typeof StreamEvent)[keyof typeof StreamEvent];

/** Every event name, for configuration validation and "all events" subscriptions. */
export const ALL_STREAM_EVENTS: readonly StreamEventName[] = Object.values(StreamEvent);

/** Fields every payload carries. */
export interface EventBase {
  /** The event name, so one handler can serve several. */
  readonly event: StreamEventName;
  /** ISO 8601 time of the event. */
  readonly time: string;
}

export interface PublishEvent extends EventBase {
  readonly app: string;
  readonly room: string;
  /** `rtmp`, `rtmps` or `relay`. */
  readonly protocol: string;
  readonly remote_addr: string;
  /** Publisher session id (matches stats). */
  readonly session_id: number;
}

export interface PublishRefusedEvent extends EventBase {
  readonly app: string;
  readonly protocol: string;
  readonly remote_addr: string;
  /** `app`, `name`, `key`, `store` or `hook`. */
  readonly reason: string;
  readonly description: string;
}

export interface PlayerEvent extends EventBase {
  readonly app: string;
  readonly room: string;
  readonly protocol: string;
  readonly remote_addr: string;
  readonly session_id: number;
}

export interface KeyEvent extends EventBase {
  readonly room: string;
}

export interface RelayEvent extends EventBase {
  readonly direction: 'pull' | 'push';
  readonly app: string;
  readonly room: string;
  /** The far end without its stream name (which may be a key). */
  readonly url: string;
}

export interface RelayFailedEvent extends RelayEvent {
  readonly reason: string;
}

export interface ArchiveEvent extends EventBase {
  readonly app: string;
  readonly room: string;
  readonly path: string;
  /** False when the disk failed and the file is incomplete. */
  readonly complete: boolean;
}

/** Payload type of each event name. */
export interface StreamEventPayloads {
  'publish.admitted': PublishEvent;
  'publish.refused': PublishRefusedEvent;
  'publish.ended': PublishEvent;
  'player.joined': PlayerEvent;
  'player.left': PlayerEvent;
  'key.created': KeyEvent;
  'key.reset': KeyEvent;
  'key.deleted': KeyEvent;
  'relay.started': RelayEvent;
  'relay.stopped': RelayEvent;
  'relay.failed': RelayFailedEvent;
  'archive.finished': ArchiveEvent;
}
