/**
 * Twilio voice reads the account-wide Twilio settings (TWILIO_*); calls add none of their
 * own, so this file names them for the provider folder's usual shape (STYLE habit 7).
 */
export {
  type TwilioConfig as TwilioVoiceConfig,
  twilioConfigFromEnv as twilioVoiceConfigFromEnv,
  sandboxTwilioConfig as sandboxTwilioVoiceConfig,
} from '../twilio/config.js';
