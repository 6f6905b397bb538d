import { createHmac } from 'node:crypto';

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the webhook's secret. */
export const SIGNATURE_HEADER = 'x-livego-signature';
export const EVENT_HEADER = 'x-livego-event';
export const DELIVERY_HEADER = 'x-livego-delivery';

/** The signature header's value for `body`. A receiver recomputes it and compares in constant time. */
export function sign(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
