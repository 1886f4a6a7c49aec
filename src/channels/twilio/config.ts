import type { SenderIdentity } from '../provider.js';
import { checkedBaseUrl, positiveInt } from '../env-config.js';

/** How to reach Twilio's REST API (SMS and voice share it); read from the environment once, at start (STYLE habit 6). */
export interface TwilioConfig {
  /** Base URL without a trailing slash; the adapters post to `${baseUrl}/2010-04-01/Accounts/{sid}/….json`. */
  readonly baseUrl: string;
  /** The account's credentials; null when every sender carries its own (sender.credentials wins anyway). */
  readonly accountSid: string | null;
  readonly authToken: string | null;
  /** Requests in flight at once, across every send() of one adapter. */
  readonly concurrency: number;
  /** A request with no answer after this long counts as a transient failure. */
  readonly timeoutMs: number;
  /**
   * The longest a send() waits out a Retry-After before answering "transient" without
   * calling: longer waits belong to the engine's retry schedule, not a held batch.
   */
  readonly maxRetryWaitMs: number;
}

/** The account the loopback sandbox accepts unless started with another (the shape of a real Account SID). */
export const sandboxTwilioAccountSid = 'AC00000000000000000000000000000000';
export const sandboxTwilioAuthToken = 'herald-sandbox-twilio-token';

/** Twilio's public API, the default of TWILIO_API_URL. */
export const twilioApiUrl = 'https://api.twilio.com';

// Twilio queues per account rather than refusing concurrent creates; 8 keeps a 2-core sender busy without 20429s.
const defaults = { concurrency: 8, timeoutMs: 15_000, maxRetryWaitMs: 10_000 };

/** Checks the base URL: http(s), no query; plain http only to loopback, because the auth token travels in a header. */
function baseUrlOf(name: string, raw: string): string {
  return checkedBaseUrl(name, raw, twilioApiUrl);
}

const accountSidPattern = /^AC[0-9a-fA-F]{32}$/;

/**
 * Reads TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_URL, TWILIO_CONCURRENCY and
 * TWILIO_TIMEOUT_MS. Null when none of the first three is set (Twilio is not used).
 * The SID and token come as a pair; TWILIO_API_URL alone turns Twilio on with every
 * sender carrying its own credentials.
 */
export function twilioConfigFromEnv(env: NodeJS.ProcessEnv): TwilioConfig | null {
  const accountSid = env.TWILIO_ACCOUNT_SID?.trim() || null;
  const authToken = env.TWILIO_AUTH_TOKEN?.trim() || null;
  const rawUrl = env.TWILIO_API_URL?.trim() || null;
  if (!accountSid && !authToken && !rawUrl) return null;
  if (!accountSid !== !authToken) throw new Error('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together');
  if (accountSid && !accountSidPattern.test(accountSid))
    throw new Error(`TWILIO_ACCOUNT_SID must be an Account SID (AC followed by 32 hex digits), not "${accountSid}"`);
  return {
    baseUrl: baseUrlOf('TWILIO_API_URL', rawUrl ?? twilioApiUrl),
    accountSid,
    authToken,
    concurrency: positiveInt(env, 'TWILIO_CONCURRENCY', defaults.concurrency, 64),
    timeoutMs: positiveInt(env, 'TWILIO_TIMEOUT_MS', defaults.timeoutMs),
    maxRetryWaitMs: defaults.maxRetryWaitMs,
  };
}

/**
 * Twilio's public API (or TWILIO_API_URL) with no account of the environment's: what senders
 * carrying their own accountSid and authToken send with when no TWILIO_* variable is set.
 */
export function twilioDefaultConfig(env: NodeJS.ProcessEnv): TwilioConfig {
  return twilioConfigFromEnv({ ...env, TWILIO_API_URL: env.TWILIO_API_URL?.trim() || twilioApiUrl })!;
}

/** The loopback sandbox API (see sandbox.ts) with its default account unless told another. */
export function sandboxTwilioConfig(
  baseUrl: string,
  accountSid: string = sandboxTwilioAccountSid,
  authToken: string = sandboxTwilioAuthToken,
): TwilioConfig {
  return { ...defaults, baseUrl: baseUrlOf('sandbox URL', baseUrl), accountSid, authToken };
}

/** Account SID and auth token for one sender: its own when it carries both, else the environment's; null when neither has them. */
export function twilioCredentials(config: TwilioConfig, sender: SenderIdentity): { accountSid: string; authToken: string } | null {
  const { accountSid, authToken } = sender.credentials;
  if (accountSid && authToken) return { accountSid, authToken };
  if (config.accountSid && config.authToken) return { accountSid: config.accountSid, authToken: config.authToken };
  return null;
}

/**
 * The failover Twilio account (engine/failover-adapter.ts): TWILIO_FAILOVER_ACCOUNT_SID,
 * TWILIO_FAILOVER_AUTH_TOKEN and TWILIO_FAILOVER_API_URL, read as the TWILIO_* ones are (the
 * concurrency and timeout are shared). Null when none of the three is set.
 */
export function twilioFailoverConfigFromEnv(env: NodeJS.ProcessEnv): TwilioConfig | null {
  const { TWILIO_FAILOVER_ACCOUNT_SID, TWILIO_FAILOVER_AUTH_TOKEN, TWILIO_FAILOVER_API_URL } = env;
  if (!TWILIO_FAILOVER_ACCOUNT_SID?.trim() && !TWILIO_FAILOVER_AUTH_TOKEN?.trim() && !TWILIO_FAILOVER_API_URL?.trim()) return null;
  try {
    return twilioConfigFromEnv({
      ...env,
      TWILIO_ACCOUNT_SID: TWILIO_FAILOVER_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: TWILIO_FAILOVER_AUTH_TOKEN,
      TWILIO_API_URL: TWILIO_FAILOVER_API_URL?.trim() || twilioApiUrl,
    });
  } catch (err) {
    throw new Error((err as Error).message.replace(/TWILIO_/g, 'TWILIO_FAILOVER_'), { cause: err });
  }
}
