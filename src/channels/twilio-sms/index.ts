import type { OutgoingSms } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import {
  type TwilioConfig,
  sandboxTwilioConfig,
  twilioConfigFromEnv,
  twilioDefaultConfig,
  twilioFailoverConfigFromEnv,
} from '../twilio/config.js';
import { TwilioSmsAdapter } from './adapter.js';
import { twilioSmsReceipts } from './receipts.js';
import { startTwilioSmsSandbox } from './sandbox.js';

/** SMS through Twilio's Messages API (DESIGN §1), with its loopback sandbox and signed status callbacks. */
export const twilioSmsProvider = Object.freeze<ProviderModule<TwilioConfig, OutgoingSms>>({
  name: 'twilio-sms',
  channel: 'sms',
  configFromEnv: twilioConfigFromEnv,
  defaultConfig: twilioDefaultConfig,
  failoverConfigFromEnv: twilioFailoverConfigFromEnv,
  async startSandbox(options) {
    // A failover sandbox is another Twilio account: its callbacks are signed with its own token.
    const server = await startTwilioSmsSandbox(
      options.secondary ? { ...options, accountSid: `AC${'f'.repeat(32)}`, authToken: 'herald-sandbox-twilio-failover-token' } : options,
    );
    return {
      server,
      config: sandboxTwilioConfig(server.url, server.accountSid, server.authToken),
      credentials: { accountSid: server.accountSid, authToken: server.authToken },
    };
  },
  credentialFields: ['accountSid', 'authToken'],
  createAdapter: (config, sender, context) => new TwilioSmsAdapter(config, sender, context),
  receipts: twilioSmsReceipts,
});
