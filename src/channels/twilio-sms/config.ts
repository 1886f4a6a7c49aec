/**
 * Twilio SMS reads the account-wide Twilio settings (TWILIO_*); SMS adds none of its own,
 * so this file names them for the provider folder's usual shape (STYLE habit 7).
 */
export {
  type TwilioConfig as TwilioSmsConfig,
  twilioConfigFromEnv as twilioSmsConfigFromEnv,
  sandboxTwilioConfig as sandboxTwilioSmsConfig,
} from '../twilio/config.js';
