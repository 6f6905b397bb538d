import { AccessRefusal, PublishRequest } from './admission';
import { PublishSession, SessionEndpoint } from './session';

/** A local reader's hold on a room pulled from another node; released when the reader leaves. */
export interface RoomLease {
  /** Resolves true once the room is live here (the pull delivered its first packet), false if it cannot be. */
  readonly live: Promise<boolean>;
  /** The reader left. Safe to call more than once. */
  release(): void;
}

/** What a directory may ask of the core it serves (StreamAccess implements it). */
export interface RoomHost {
  /** Local publishers of their own (not pulled from another node). */
  ownPublishers(): Iterable<PublishSession>;
  /** Whether `app/room` has a local publisher of its own right now. */
  ownsLive(app: string, room: string): boolean;
  /** The one door, for the copy of a room an edge pulls (`pulled: true`). */
  publish(
    request: PublishRequest,
    endpoint: SessionEndpoint,
  ): Promise<{ readonly ok: true; readonly session: PublishSession } | AccessRefusal>;
}

/**
 * Where rooms live (README "Cluster"): the one place StreamAccess asks the cluster. The core provides the local
 * default (one node: every room lives here); the cluster module provides the Redis one. An implementation
 * never throws: a store that does not answer refuses publishes (fails closed) and finds no room to pull.
 */
export abstract class RoomDirectory {
  /** Whether rooms may live on another node (a play of a room not live here may be served by a pull). */
  abstract readonly clustered: boolean;
  /** Called once by the core it serves. */
  abstract bind(host: RoomHost): void;
  /** Called after admission, before a publish of its own opens: claims the room, or refuses. */
  abstract claim(app: string, room: string): Promise<AccessRefusal | undefined>;
  /** The publish the claim was for has opened: the directory keeps the claim while it lives. */
  abstract opened(session: PublishSession): void;
  /** A publish of its own ended (or never opened after its claim): the claim is released. */
  abstract closed(app: string, room: string, session: PublishSession | undefined): void;
  /** A local reader of `app/room` joins: on an edge, it starts or joins the one upstream for that room. */
  abstract lease(app: string, room: string): RoomLease | undefined;
}

/** One node: every room lives here, nothing to claim, nothing to pull. */
export class LocalRoomDirectory extends RoomDirectory {
  readonly clustered = false;
  bind(): void {}
  claim(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  opened(): void {}
  closed(): void {}
  lease(): undefined {
    return undefined;
  }
}
