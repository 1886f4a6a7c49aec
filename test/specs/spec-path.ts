import { fileURLToPath } from 'node:url';

/** The path of a provider's published API description kept beside the tests (see README.md here for where each comes from). */
export const specPath = (file: 'twilio_api_v2010.json' | 'fcm_v1.discovery.json' | 'telegram_bot_api.paulsonoflars.json'): string =>
  fileURLToPath(new URL(`./${file}`, import.meta.url));
