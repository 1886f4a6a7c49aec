import { fcmProvider } from './fcm/index.js';
import type { ProviderModule } from './provider.js';
import { telegramProvider } from './telegram/index.js';
import { twilioSmsProvider } from './twilio-sms/index.js';
import { twilioVoiceProvider } from './twilio-voice/index.js';
import { viberProvider } from './viber/index.js';
import { webhookProvider } from './webhook/index.js';
import { webPushProvider } from './webpush/index.js';

/**
 * The providers Herald speaks for the channels other than email (email's SMTP and HTTP
 * adapters are chosen by HERALD_EMAIL_TRANSPORT). The first listed for a channel serves it;
 * a second provider per channel (failover) would be listed after it.
 */
export const channelProviders: readonly ProviderModule[] = [
  twilioSmsProvider as ProviderModule,
  twilioVoiceProvider as ProviderModule,
  webPushProvider as ProviderModule,
  fcmProvider as ProviderModule,
  telegramProvider as ProviderModule,
  viberProvider as ProviderModule,
  webhookProvider as ProviderModule,
];
