/** The parsed answer of an API call. */
export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  /** The raw body. */
  readonly text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  readonly json: { status: number; data: T } | undefined;
}

/** fetch() with a 5 s timeout that reads the body; never throws for an HTTP error status. */
export async function call<T = unknown>(
  url: string,
  init: RequestInit = {},
): Promise<ApiResponse<T>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000), ...init });
  const text = await response.text();
  let json: ApiResponse<T>['json'];
  try {
    json = JSON.parse(text) as ApiResponse<T>['json'];
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** A url-encoded POST of `fields`. */
export function postForm(url: string, fields: string, headers: Record<string, string> = {}) {
  return call(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: fields,
  });
}

/** Asserts the README "Control API" envelope: JSON `{status, data}` with `status` equal to the HTTP status. */
export function expectEnvelope<T>(response: ApiResponse<T>, status: number): T {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.json).toEqual({ status, data: expect.anything() });
  expect(response.status).toBe(status);
  return (response.json as { data: T }).data;
}
