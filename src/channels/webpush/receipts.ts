import { parseAppReceipt, verifyAppReceipt } from '../app-receipts.js';
import type { ReceiptHandler, ReceiptRequest, SenderIdentity } from '../provider.js';
import type { ReceiptParse } from '../receipts.js';
import { type WebPushConfig, vapidCredentialsOf } from './config.js';

/**
 * Receipts for web push: push services say nothing after a 201, so the service worker posts
 * the signed token the notification carried (see adapter.ts payloadOf) to
 * `/v1/receipts/webpush/<sender>` when it shows the notification (delivered) and when the
 * person opens it (read) or follows its link (clicked). A worker calls
 * `fetch(receipt.url, { method: 'POST', body: JSON.stringify({ token, event }), keepalive: true })`:
 * a string body goes as text/plain, a CORS "simple request" that needs no preflight from the
 * site's origin, so the route must read the raw body whatever its Content-Type.
 */
export const webPushReceipts: ReceiptHandler<WebPushConfig> = {
  /** True when the token's MAC is right under the sender's receipt secret (its own, or the one derived from its VAPID key). */
  verify(request: ReceiptRequest, config: WebPushConfig, sender: SenderIdentity): boolean {
    if (request.method !== 'POST') return false;
    const credentials = vapidCredentialsOf(config, sender);
    if (typeof credentials === 'string') return false;
    return verifyAppReceipt(request.rawBody, credentials.receiptSecret);
  },
  /** Reads `{ token, event, at? }` into one event about the ledger row the token names. */
  parse(request: ReceiptRequest): ReceiptParse {
    return parseAppReceipt(request.rawBody);
  },
};
