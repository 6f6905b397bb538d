/** Every API answer: `{"status": <int>, "data": <any>}`, with the HTTP status equal to `status` (README "Control API"). */
export interface ApiEnvelope<T = unknown> {
  readonly status: number;
  readonly data: T;
}

export function envelope<T>(status: number, data: T): ApiEnvelope<T> {
  return { status, data };
}
