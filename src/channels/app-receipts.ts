import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ReceiptEvent, ReceiptParse } from './receipts.js';
import { parseLedgerKey } from './receipts.js';

/**
 * Receipts that come from the recipient's own device rather than from a provider: push
 * services (web push, FCM) say nothing after accepting a message, so the notification
 * carries a signed receipt token and the service worker or app posts it back to
 * `/v1/receipts/<provider>/<sender>` when it shows (delivered), is opened (read) or is
 * tapped through (clicked). The token is the ledger key and an HMAC-SHA256 of it under a
 * per-sender secret, so nobody can forge receipts for messages they did not receive.
 */

const macLength = 22; // 22 base64url characters: 132 bits of the HMAC.

function mac(secret: string, ledgerKey: string): string {
  return createHmac('sha256', secret).update(ledgerKey).digest('base64url').slice(0, macLength);
}

/** The token a notification carries: `<runId>.<messageId>.<mac>`. */
export function appReceiptToken(secret: string, ledgerKey: string): string {
  return `${ledgerKey}.${mac(secret, ledgerKey)}`;
}

/** The ledger row a token names, when its MAC is right under `secret`; null otherwise. */
export function verifyAppReceiptToken(secret: string, token: unknown): { runId: number; messageId: number } | null {
  if (typeof token !== 'string') return null;
  const cut = token.lastIndexOf('.');
  if (cut < 0) return null;
  const key = token.slice(0, cut);
  const given = Buffer.from(token.slice(cut + 1));
  const expected = Buffer.from(mac(secret, key));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return parseLedgerKey(key);
}

const appEvents = new Set(['delivered', 'read', 'clicked']);

/** The JSON body a device posts: `{ "token": "…", "event": "delivered" | "read" | "clicked", "at"?: ISO time }`. */
export interface AppReceiptBody {
  readonly token: string;
  readonly event: 'delivered' | 'read' | 'clicked';
  readonly at?: string;
}

/** Reads a device's receipt; the token's MAC is checked by verifyAppReceipt, not here. */
export function parseAppReceipt(rawBody: Buffer, now: Date = new Date()): ReceiptParse {
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return { ok: false, detail: 'The body must be JSON' };
  }
  if (body === null || typeof body !== 'object') return { ok: false, detail: 'The body must be a JSON object' };
  const b = body as Record<string, unknown>;
  const message = typeof b.token === 'string' ? parseLedgerKey(b.token.slice(0, b.token.lastIndexOf('.'))) : null;
  if (!message) return { ok: false, detail: 'token must be the receipt token the notification carried' };
  if (typeof b.event !== 'string' || !appEvents.has(b.event)) return { ok: false, detail: 'event must be delivered, read or clicked' };
  const at = typeof b.at === 'string' ? new Date(b.at) : now;
  if (Number.isNaN(at.getTime())) return { ok: false, detail: 'at must be an ISO 8601 time' };
  const event: ReceiptEvent = { message, providerId: null, type: b.event as ReceiptEvent['type'], at };
  return { ok: true, events: [event] };
}

/** Whether a device's receipt carries a token signed with `secret`. */
export function verifyAppReceipt(rawBody: Buffer, secret: string): boolean {
  try {
    const body = JSON.parse(rawBody.toString('utf8')) as { token?: unknown };
    return verifyAppReceiptToken(secret, body.token) !== null;
  } catch {
    return false;
  }
}
