import type { OutgoingPush } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { FcmAdapter } from './adapter.js';
import { type FcmConfig, fcmConfigFromEnv, fcmDefaultConfig, sandboxFcmConfig } from './config.js';
import { fcmReceipts } from './receipts.js';
import { startSandboxFcm } from './sandbox.js';

/**
 * Mobile push through Firebase Cloud Messaging (HTTP v1). A sender carries
 * `credentials.serviceAccount` (the key file's JSON text) unless FCM_SERVICE_ACCOUNT(_FILE)
 * configures one for all, and may carry `credentials.receiptSecret` (see receipts.ts).
 */
export const fcmProvider: ProviderModule<FcmConfig, OutgoingPush> = {
  name: 'fcm',
  channel: 'push',
  configFromEnv: fcmConfigFromEnv,
  defaultConfig: fcmDefaultConfig,
  async startSandbox(options) {
    const server = await startSandboxFcm(options);
    return { server, config: sandboxFcmConfig(server.url), credentials: { serviceAccount: server.serviceAccount } };
  },
  credentialFields: ['serviceAccount'],
  createAdapter: (config, sender, context) => new FcmAdapter(config, sender, context),
  receipts: fcmReceipts,
};
