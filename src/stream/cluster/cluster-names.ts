/** Redis names of the cluster (README "Cluster"), all under the `livego:` prefix like the key store's (README). */
export const CLUSTER_PREFIX = 'livego:cluster:';
/** `app/room` → the claim of its owner (JSON {node, advertise, epoch}), with a TTL. */
export const roomClaimKey = (streamKey: string) => `${CLUSTER_PREFIX}room:${streamKey}`;
/** Claims' epochs: one counter, so that every claim's value is unique. */
export const EPOCH_KEY = `${CLUSTER_PREFIX}epoch`;
/** A node's heartbeat (JSON, see NodeBeat), with a TTL. */
export const nodeKey = (id: string) => `${CLUSTER_PREFIX}node:${id}`;
/** Every node seen, scored by its last heartbeat (ms): the list `/stat/cluster` reads, without KEYS. */
export const NODES_KEY = `${CLUSTER_PREFIX}nodes`;
/** Claims, releases and kicks, for every node. */
export const CLUSTER_CHANNEL = `${CLUSTER_PREFIX}events`;
/** The tcUrl query parameter by which an edge's upstream says it is one (the owner serves only its own). */
export const CLUSTER_PULL_PARAM = 'livego_cluster_pull';

/** What a claim says: who owns the room, where to pull it from, and which claim it is. */
export interface RoomClaim {
  readonly node: string;
  readonly advertise: string;
  readonly epoch: number;
}

/** Messages on CLUSTER_CHANNEL. */
export type ClusterMessage =
  | {
      readonly type: 'claimed';
      readonly room: string;
      readonly claim: string;
      readonly previous: string | false;
    }
  | { readonly type: 'released'; readonly room: string; readonly claim: string }
  | {
      readonly type: 'kick';
      readonly node: string;
      readonly session_id: number;
      readonly request: string;
    }
  | { readonly type: 'kicked'; readonly request: string; readonly result: KickedItem | null };

/** A session closed by `/control/kick`, as the API answers it. */
export interface KickedItem {
  readonly session_id: number;
  readonly role: string;
  readonly key: string;
  readonly protocol: string;
}

export function parseClaim(text: unknown): RoomClaim | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value = JSON.parse(text) as Partial<RoomClaim>;
    if (typeof value.node === 'string' && typeof value.advertise === 'string')
      return { node: value.node, advertise: value.advertise, epoch: Number(value.epoch) || 0 };
  } catch {
    // not a claim
  }
  return undefined;
}
