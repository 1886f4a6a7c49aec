import type { OutgoingVoice } from '../channel.js';
import type { ProviderModule } from '../provider.js';
import { type TwilioConfig, sandboxTwilioConfig, twilioConfigFromEnv, twilioDefaultConfig } from '../twilio/config.js';
import { TwilioVoiceAdapter } from './adapter.js';
import { twilioVoiceReceipts } from './receipts.js';
import { startTwilioVoiceSandbox } from './sandbox.js';

/** Voice calls through Twilio's Calls API with inline TwiML (DESIGN §1), with its loopback sandbox and signed status callbacks. */
export const twilioVoiceProvider = Object.freeze<ProviderModule<TwilioConfig, OutgoingVoice>>({
  name: 'twilio-voice',
  channel: 'voice',
  configFromEnv: twilioConfigFromEnv,
  defaultConfig: twilioDefaultConfig,
  async startSandbox(options) {
    const server = await startTwilioVoiceSandbox(options);
    return {
      server,
      config: sandboxTwilioConfig(server.url, server.accountSid, server.authToken),
      credentials: { accountSid: server.accountSid, authToken: server.authToken },
    };
  },
  credentialFields: ['accountSid', 'authToken'],
  createAdapter: (config, sender, context) => new TwilioVoiceAdapter(config, sender, context),
  receipts: twilioVoiceReceipts,
});
