/** Names under which rooms and keys are stored (README "Keys in memory or in Redis"). Nothing outside `livego:` is ever touched. */
export const KEY_PREFIX = 'livego:';
export const roomEntry = (room: string): string => `${KEY_PREFIX}room:${room}`;
export const keyEntry = (key: string): string => `${KEY_PREFIX}key:${key}`;
/** Redis pub/sub channel carrying revocations between instances. */
export const REVOCATION_CHANNEL = `${KEY_PREFIX}revoked`;
