import { Algorithm, sign, SignOptions } from 'jsonwebtoken';

/** An HMAC-signed token; `payload` may set `exp`/`nbf`/`iat` itself (seconds since the epoch). */
export function signToken(
  secret: string,
  payload: Record<string, unknown> = { sub: 'e2e' },
  algorithm: Algorithm = 'HS256',
  options: Omit<SignOptions, 'algorithm'> = {},
): string {
  return sign(payload, secret, { algorithm, ...options });
}

/** An unsigned `alg: none` token, which must always be refused. */
export function unsignedToken(payload: Record<string, unknown> = { sub: 'e2e' }): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}

/** Seconds since the epoch, `offset` seconds from now. */
export function epoch(offsetSeconds = 0): number {
  return Math.floor(Date.now() / 1000) + offsetSeconds;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
