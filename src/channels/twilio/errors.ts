import { assertUnreachable } from '../../domain/errors.js';
import type { RecipientVerdict } from '../receipts.js';

/** Twilio's REST error body (twilio.com/docs/api/errors): `{ code, message, more_info, status }`. */
export interface TwilioErrorBody {
  readonly code?: number;
  readonly message?: string;
  readonly more_info?: string;
  readonly status?: number;
}

/** What one failed create means for us; nothing vendor-shaped passes this point. */
export type TwilioFailure =
  | {
      readonly verdict: 'failed';
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      readonly recipient?: RecipientVerdict;
    }
  /** The whole campaign cannot go on (credentials, sender number, endpoint): ProviderFatalError. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string };

type Rule = { readonly verdict: 'fatal' | 'transient' | 'permanent'; readonly code: string; readonly recipient?: RecipientVerdict };

/**
 * Twilio error codes in our words. Codes about the credentials, the account or the From
 * number are fatal: every message of the campaign would fail the same way, so the campaign
 * fails once with the reason. Codes about the recipient are permanent for that message.
 * An unlisted code on a 4xx is a permanent rejection reported as `TWILIO_<code>`.
 */
const errorCodes: ReadonlyMap<number, Rule> = new Map<number, Rule>([
  [20003, { verdict: 'fatal', code: 'TWILIO_AUTH' }], // authentication failed
  [20005, { verdict: 'fatal', code: 'TWILIO_ACCOUNT' }], // account not active
  [20404, { verdict: 'fatal', code: 'TWILIO_ENDPOINT' }], // resource not found: the URL or Account SID is wrong
  [20429, { verdict: 'transient', code: 'TWILIO_THROTTLED' }], // too many requests
  [21611, { verdict: 'transient', code: 'TWILIO_QUEUE_FULL' }], // the From number's queue is full
  [30001, { verdict: 'transient', code: 'TWILIO_QUEUE_FULL' }], // queue overflow
  [21211, { verdict: 'permanent', code: 'TWILIO_INVALID_TO' }], // invalid 'To' phone number
  [21217, { verdict: 'permanent', code: 'TWILIO_INVALID_TO' }], // phone number does not appear to be valid (calls)
  [21614, { verdict: 'permanent', code: 'TWILIO_NOT_MOBILE' }], // 'To' is not a mobile number
  [21408, { verdict: 'permanent', code: 'TWILIO_REGION' }], // geo permissions: that country is not enabled
  [21215, { verdict: 'permanent', code: 'TWILIO_REGION' }], // geo permissions for calls
  [21612, { verdict: 'permanent', code: 'TWILIO_UNREACHABLE' }], // 'To' cannot be reached from this 'From'
  [21214, { verdict: 'permanent', code: 'TWILIO_UNREACHABLE' }], // 'To' phone number cannot be reached (calls)
  [21608, { verdict: 'permanent', code: 'TWILIO_UNVERIFIED' }], // trial accounts reach verified numbers only
  [21610, { verdict: 'permanent', code: 'TWILIO_BLOCKED', recipient: 'blocked' }], // the recipient replied STOP
  [21602, { verdict: 'permanent', code: 'TWILIO_INVALID_MESSAGE' }], // Body is required
  [21617, { verdict: 'permanent', code: 'TWILIO_INVALID_MESSAGE' }], // Body exceeds 1,600 characters
  [21606, { verdict: 'fatal', code: 'TWILIO_SENDER' }], // 'From' is not a valid, SMS-capable number of this account
  [21212, { verdict: 'fatal', code: 'TWILIO_SENDER' }], // invalid 'From' number
  [21659, { verdict: 'fatal', code: 'TWILIO_SENDER' }], // 'From' is not a Twilio number or verified caller id
  [21210, { verdict: 'fatal', code: 'TWILIO_SENDER' }], // caller id not verified (calls)
  [21603, { verdict: 'fatal', code: 'TWILIO_SENDER' }], // 'From' is required
]);

/** Maps a Twilio error code (from the JSON body) to our verdict; null for a code the table does not know. */
export function verdictOfTwilioCode(code: number, message: string): TwilioFailure | null {
  const rule = errorCodes.get(code);
  if (!rule) return null;
  const detail = `${message.slice(0, 400)} (Twilio error ${code})`;
  switch (rule.verdict) {
    case 'fatal':
      return { verdict: 'fatal', code: rule.code, detail };
    case 'transient':
    case 'permanent':
      return rule.recipient
        ? { verdict: 'failed', kind: rule.verdict, code: rule.code, detail, recipient: rule.recipient }
        : { verdict: 'failed', kind: rule.verdict, code: rule.code, detail };
    default:
      return assertUnreachable(rule.verdict);
  }
}

/**
 * Maps a response that is not 2xx. The body's code decides when the table knows it; else
 * the status: 401/403 mean the credentials, 404 and redirects a wrong TWILIO_API_URL or
 * Account SID, 429/408/5xx are transient (the caller also honours Retry-After), and any
 * other 4xx rejects this message.
 */
export function verdictOfTwilioResponse(status: number, body: string, location: string | null = null): TwilioFailure {
  let error: TwilioErrorBody | null = null;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) error = parsed as TwilioErrorBody;
  } catch {
    // Proxies and load balancers answer in HTML; the status alone decides.
  }
  const said = (typeof error?.message === 'string' ? error.message : body).slice(0, 400).trim();
  const code = typeof error?.code === 'number' ? error.code : null;
  const known = code === null ? null : verdictOfTwilioCode(code, said);
  if (known) return known;
  if (status === 401 || status === 403)
    return { verdict: 'fatal', code: 'TWILIO_AUTH', detail: `Twilio refused the account SID or auth token (HTTP ${status}): ${said}` };
  if (status === 404 || (status >= 300 && status < 400)) {
    const where = location ? ` (it redirects to ${location})` : '';
    return {
      verdict: 'fatal',
      code: 'TWILIO_ENDPOINT',
      detail: `HTTP ${status} from Twilio${where}: check TWILIO_API_URL and the Account SID`,
    };
  }
  if (status === 429) return { verdict: 'failed', kind: 'transient', code: 'TWILIO_THROTTLED', detail: `HTTP 429: ${said}` };
  if (status >= 500 || status === 408)
    return { verdict: 'failed', kind: 'transient', code: 'TWILIO_UNAVAILABLE', detail: `HTTP ${status}: ${said}` };
  const suffix = code === null ? '' : ` (Twilio error ${code})`;
  return {
    verdict: 'failed',
    kind: 'permanent',
    code: code === null ? 'TWILIO_REJECTED' : `TWILIO_${code}`,
    detail: `HTTP ${status}: ${said}${suffix}`,
  };
}

/**
 * Descriptions of the delivery error codes a status callback carries (ErrorCode), used
 * when the callback has no ErrorMessage: Twilio sends the code alone.
 */
export const deliveryErrors: Readonly<Record<string, string>> = {
  '30001': 'Queue overflow',
  '30002': 'Account suspended',
  '30003': 'Unreachable destination handset',
  '30004': 'Message blocked',
  '30005': 'Unknown destination handset',
  '30006': 'Landline or unreachable carrier',
  '30007': 'Message filtered by the carrier',
  '30008': 'Unknown error',
  '21610': 'The recipient replied STOP',
};
