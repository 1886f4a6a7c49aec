import type { OutgoingWebhook } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { WebhookAdapter } from './adapter.js';
import { type WebhookConfig, defaultWebhookConfig, webhookConfigFromEnv, webhookCredentialFields } from './config.js';
import { webhookReceipts } from './receipts.js';
import { startWebhookSandbox } from './sandbox.js';

export { WebhookAdapter, verdictOfAnswer } from './adapter.js';
export { type WebhookConfig, type WebhookCredentials, readWebhookCredentials, webhookConfigFromEnv } from './config.js';
export { type WebhookReceiptBody, maxReceiptEvents, parseWebhookReceipts, verifyWebhookReceipt } from './receipts.js';
export { type WebhookSandbox, type WebhookSandboxOptions, startWebhookSandbox } from './sandbox.js';
export { checkWebhookSignature, signWebhook, verifyWebhookSignature } from './signature.js';

/**
 * Herald's own signed webhook (issue 5): custom channels receive each message as a signed
 * JSON POST and may report back through `/v1/receipts/webhook/<sender>`. The endpoint and
 * its secret belong to the sender (credentials `url` and `secret`), so the environment
 * names no account (configFromEnv is null) and only tunes timeouts and concurrency
 * (defaultConfig, see webhookConfigFromEnv).
 */
export const webhookProvider: ProviderModule<WebhookConfig, OutgoingWebhook> = {
  name: 'webhook',
  channel: 'webhook',
  configFromEnv: () => null,
  defaultConfig: webhookConfigFromEnv,
  async startSandbox(options) {
    const server = await startWebhookSandbox(options);
    return { server, config: defaultWebhookConfig, credentials: { url: server.hookUrl, secret: server.secret } };
  },
  credentialFields: webhookCredentialFields,
  createAdapter: (config, sender) => new WebhookAdapter(config, sender),
  receipts: webhookReceipts,
};
