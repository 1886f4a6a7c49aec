import { type TwilioSandboxOptions, type TwilioSandboxServer, startTwilioSandbox } from '../twilio/sandbox.js';

/**
 * The loopback Twilio for SMS: the one sandbox of ../twilio/sandbox.ts, which serves Messages
 * and Calls alike, as one Twilio account does; its failure triggers are documented there.
 */
export function startTwilioSmsSandbox(options: TwilioSandboxOptions): Promise<TwilioSandboxServer> {
  return startTwilioSandbox(options);
}
