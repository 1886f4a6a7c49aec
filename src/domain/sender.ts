import { assertUnreachable } from './errors.js';
import type { Channel } from './lifecycle.js';

/** A sender as the rules see it: the fields that say who a message comes from. */
export interface SenderFields {
  readonly fromEmail: string | null;
  readonly fromName: string | null;
  readonly address: string | null;
}

export interface SenderProblem {
  /** The field in the request, named as the API names fields: body/address. */
  readonly field: string;
  readonly message: string;
}

const e164 = /^\+[1-9]\d{6,14}$/;
// GSM alphanumeric sender ids: up to 11 letters, digits and spaces, at least one letter.
const alphanumericId = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
const botUsername = /^@?[A-Za-z][A-Za-z0-9_]{3,31}$/;

/** What a sender of `channel` must carry to send (DESIGN §5); every problem at once. */
export function checkSender(channel: Channel, s: SenderFields): SenderProblem[] {
  switch (channel) {
    case 'email':
      return s.fromEmail ? [] : [{ field: 'body/fromEmail', message: 'an email sender needs fromEmail' }];
    case 'sms':
      return s.address && (e164.test(s.address) || alphanumericId.test(s.address))
        ? []
        : [
            {
              field: 'body/address',
              message: 'an SMS sender needs an E.164 number (+14155550100) or an alphanumeric sender id of up to 11 characters',
            },
          ];
    case 'voice':
      return s.address && e164.test(s.address)
        ? []
        : [{ field: 'body/address', message: 'a voice sender needs an E.164 number to call from' }];
    case 'telegram':
      return s.address === null || botUsername.test(s.address)
        ? []
        : [{ field: 'body/address', message: 'a Telegram sender’s address is its bot username, e.g. @herald_news_bot' }];
    case 'viber':
      return s.fromName && s.fromName.length <= 28
        ? []
        : [{ field: 'body/fromName', message: 'a Viber sender needs fromName, the sender name people see (at most 28 characters)' }];
    case 'webpush':
    case 'push':
    case 'webhook':
      return [];
    default:
      return assertUnreachable(channel);
  }
}
