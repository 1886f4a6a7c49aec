import type { OutgoingViber } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { ViberAdapter } from './adapter.js';
import { type ViberConfig, sandboxViberConfig, viberConfigFromEnv } from './config.js';
import { viberReceipts } from './receipts.js';
import { startViberSandbox } from './sandbox.js';

/**
 * Viber's REST bot API as a Herald provider. A sender carries its bot's auth token
 * (`credentials.authToken`, else VIBER_AUTH_TOKEN); the sender name and avatar travel on each
 * message. Receipts come to the bot's one webhook, which setWebhook (adapter.ts) points at
 * Herald's receipts URL.
 */
export const viberProvider: ProviderModule<ViberConfig, OutgoingViber> = {
  name: 'viber',
  channel: 'viber',
  configFromEnv: viberConfigFromEnv,
  async startSandbox(options) {
    const server = await startViberSandbox(options);
    return { server, config: sandboxViberConfig(server.url, server.authToken), credentials: { authToken: server.authToken } };
  },
  credentialFields: ['authToken'],
  createAdapter: (config, sender) => new ViberAdapter(config, sender),
  receipts: viberReceipts,
};

export { ViberAdapter, setWebhook } from './adapter.js';
export type { ViberConfig } from './config.js';
