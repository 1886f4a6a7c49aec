import webpush from 'web-push';
import type { OutgoingWebPush } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { WebPushAdapter } from './adapter.js';
import { type WebPushConfig, sandboxWebPushConfig, webPushConfigFromEnv } from './config.js';
import { webPushReceipts } from './receipts.js';
import { startWebPushSandbox } from './sandbox.js';

export { WebPushAdapter } from './adapter.js';
export type { PushSubscriptionJSON, WebPushPayload } from './adapter.js';
export type { WebPushConfig } from './config.js';
export type { WebPushSandboxServer } from './sandbox.js';

/** The subject the sandbox's VAPID keys are sent with; `.invalid` can never reach anyone. */
const sandboxSubject = 'mailto:sandbox@herald.invalid';

/**
 * Web push (RFC 8030/8291/8292) to any browser's push service. The sandbox mints its own VAPID
 * key pair on start and binds the subscriptions it mints to it; a sender using the returned
 * credentials is accepted, any other key gets 403. Its server is a WebPushSandboxServer:
 * `createSubscription()` gives the addresses it can deliver to.
 */
export const webPushProvider: ProviderModule<WebPushConfig, OutgoingWebPush> = {
  name: 'webpush',
  channel: 'webpush',
  configFromEnv: webPushConfigFromEnv,
  async startSandbox(options) {
    const keys = webpush.generateVAPIDKeys();
    const server = await startWebPushSandbox({ ...options, applicationServerKey: keys.publicKey });
    return {
      server,
      config: sandboxWebPushConfig(),
      credentials: { vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey, subject: sandboxSubject },
    };
  },
  credentialFields: ['vapidPublicKey', 'vapidPrivateKey', 'subject'],
  createAdapter: (config, sender, context) => new WebPushAdapter(config, sender, context),
  receipts: webPushReceipts,
};
