import type { ReceiptRequest, SenderIdentity } from '../provider.js';
import { parseLedgerKey } from '../receipts.js';
import { type TwilioConfig, twilioCredentials } from './config.js';
import { verifyTwilioSignature } from './signature.js';

/** The query parameter of a StatusCallback URL that carries the ledger key. */
export const ledgerQueryParam = 'm';

/** The StatusCallback for one message: Herald's receipt URL with `?m=<runId>.<messageId>`; null without a receipt URL. */
export function statusCallbackUrl(receiptUrl: string | null, ledgerKey: string): string | null {
  if (!receiptUrl) return null;
  const url = new URL(receiptUrl);
  url.searchParams.set(ledgerQueryParam, ledgerKey);
  return url.toString();
}

/** A status callback's form parameters and the ledger row its URL names (null when the URL has no ledger key). */
export function readTwilioCallback(request: ReceiptRequest): {
  readonly params: URLSearchParams;
  readonly message: { runId: number; messageId: number } | null;
} {
  const params = new URLSearchParams(request.rawBody.toString('utf8'));
  let key: string | null = null;
  try {
    key = new URL(request.url, 'http://localhost').searchParams.get(ledgerQueryParam);
  } catch {
    // An unreadable URL names no row; the callback's Sid still does.
  }
  return { params, message: parseLedgerKey(key) };
}

/**
 * Whether a status callback really comes from Twilio: its X-Twilio-Signature over the URL
 * and the form, under the auth token of the sender's account (the sender's own credentials,
 * else the environment's). A callback for an account Herald has no token for is refused.
 */
export function verifyTwilioCallback(request: ReceiptRequest, config: TwilioConfig, sender: SenderIdentity): boolean {
  const credentials = twilioCredentials(config, sender);
  if (!credentials || request.method.toUpperCase() !== 'POST') return false;
  const params = new URLSearchParams(request.rawBody.toString('utf8'));
  // A callback for another account (AccountSid is in every callback) is not this sender's, even if signed.
  const account = params.get('AccountSid');
  if (account !== null && account !== credentials.accountSid) return false;
  return verifyTwilioSignature(credentials.authToken, request.url, params, request.headers['x-twilio-signature']);
}

/** The callback's time: Twilio's `Timestamp` (calls, RFC 2822) when readable, else when it arrived (SMS callbacks carry none). */
export function callbackTime(params: URLSearchParams, now: Date): Date {
  const raw = params.get('Timestamp');
  const at = raw ? new Date(raw) : null;
  return at && !Number.isNaN(at.getTime()) ? at : now;
}
