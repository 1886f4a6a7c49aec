import type { OutgoingTelegram } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { TelegramAdapter } from './adapter.js';
import { type TelegramConfig, sandboxTelegramConfig, telegramConfigFromEnv } from './config.js';
import { telegramReceipts } from './receipts.js';
import { sandboxBotToken, sandboxWebhookSecret, startSandboxTelegram } from './sandbox.js';

/**
 * Telegram bots (Bot API sendMessage; STYLE habit 7). A sender is one bot: its
 * credentials carry `botToken` and, optionally, `webhookSecret` (else one is derived from
 * the token, see receipts.ts). The runtime may call setWebhook (adapter.ts) with the
 * sender's receipt URL so blocks come back as `unsubscribed` events.
 */
export const telegramProvider: ProviderModule<TelegramConfig, OutgoingTelegram> = {
  name: 'telegram',
  channel: 'telegram',
  configFromEnv: telegramConfigFromEnv,
  async startSandbox(options) {
    const server = await startSandboxTelegram(options);
    return {
      server,
      config: sandboxTelegramConfig(server.url),
      credentials: { botToken: sandboxBotToken, webhookSecret: sandboxWebhookSecret },
    };
  },
  credentialFields: ['botToken'],
  createAdapter: (config, sender) => new TelegramAdapter(config, sender),
  receipts: telegramReceipts,
};

export { TelegramAdapter, setWebhook } from './adapter.js';
export type { TelegramConfig } from './config.js';
