import { createHmac } from 'node:crypto';
import { parseAppReceipt, verifyAppReceipt } from '../app-receipts.js';
import type { ReceiptHandler, SenderIdentity } from '../provider.js';
import { type FcmConfig, type ServiceAccount, serviceAccountOf } from './config.js';

/**
 * FCM's delivery data is not a webhook, so FCM receipts come from the app (app-receipts.ts):
 * the notification's data carries `heraldReceipt` (the ledger key and its HMAC) and
 * `heraldReceiptUrl`; the app posts `{ "token": heraldReceipt, "event": "delivered" | "read" |
 * "clicked" }` there when the notification arrives, is opened or is tapped through.
 *
 * The HMAC's secret is the sender's `credentials.receiptSecret` when it has one; otherwise it is
 * derived from the service account's private key, so a sender needs no second secret. Either
 * way, changing it (a new receiptSecret, a rotated service account key) makes receipts of the
 * notifications sent before the change fail verification: those messages stay at `sent`.
 */

/** Domain separation: the derived secret is good for FCM receipts and nothing else. */
const derivationLabel = 'herald/fcm/app-receipts/v1';

/** The secret that signs and checks this sender's app receipts; `account` is read only when the sender gives no receiptSecret. */
export function fcmReceiptSecret(account: ServiceAccount | (() => ServiceAccount), sender: SenderIdentity): string {
  const given = sender.credentials.receiptSecret?.trim();
  if (given) return given;
  const { privateKey } = typeof account === 'function' ? account() : account;
  return createHmac('sha256', privateKey).update(derivationLabel).digest('base64url');
}

/** Checks and reads the receipts the app posts to `/v1/receipts/fcm/<sender>`. */
export const fcmReceipts: ReceiptHandler<FcmConfig> = {
  verify(request, config, sender) {
    let secret: string;
    try {
      secret = fcmReceiptSecret(() => serviceAccountOf(config, sender), sender);
    } catch {
      return false; // no service account to derive the secret from: nothing can verify
    }
    return verifyAppReceipt(request.rawBody, secret);
  },
  parse: (request) => parseAppReceipt(request.rawBody),
};
