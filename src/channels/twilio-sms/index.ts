import type { OutgoingSms } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { type TwilioConfig, sandboxTwilioConfig, twilioConfigFromEnv, twilioDefaultConfig } from '../twilio/config.js';
import { TwilioSmsAdapter } from './adapter.js';
import { twilioSmsReceipts } from './receipts.js';
import { startTwilioSmsSandbox } from './sandbox.js';

/** SMS through Twilio's Messages API (DESIGN §1), with its loopback sandbox and signed status callbacks. */
export const twilioSmsProvider = Object.freeze<ProviderModule<TwilioConfig, OutgoingSms>>({
  name: 'twilio-sms',
  channel: 'sms',
  configFromEnv: twilioConfigFromEnv,
  defaultConfig: twilioDefaultConfig,
  async startSandbox(options) {
    const server = await startTwilioSmsSandbox(options);
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
