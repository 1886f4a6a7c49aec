import type { Logger } from 'pino';
import type { ChannelAdapter, Outgoing } from '../channels/channel.js';
import type { ProviderModule, SandboxFaults, SandboxServer, SenderIdentity } from '../channels/provider.js';
import type { Channel } from '../domain/lifecycle.js';
import type { SecretBox } from '../store/secrets.js';
import { openCredentials } from '../store/senders.js';
import type { SenderRow } from '../store/schema.js';
import { type BreakerOptions, FailoverAdapter } from './failover-adapter.js';

/** One channel's provider as this process runs it. */
interface Entry {
  readonly module: ProviderModule;
  /** The provider's configuration: from the environment, or the sandbox's. */
  readonly config: unknown;
  /** The environment names the provider's account, so a sender needs no credentials of its own. */
  readonly fromEnv: boolean;
  /** Running in sandbox mode: the loopback server, and the credentials it accepts (they replace every sender's). */
  readonly sandbox: { readonly server: SandboxServer; readonly credentials: Readonly<Record<string, string>> } | null;
  /** Its name in receipt URLs, logs and rate-limit keys: the module's, or `<module>-failover` for a secondary. */
  readonly name: string;
  /** The channel's second provider, which takes over when this one is down (engine/failover-adapter.ts). */
  readonly secondary: Entry | null;
}

export interface ProvidersOptions {
  readonly modules: readonly ProviderModule[];
  readonly env: NodeJS.ProcessEnv;
  /** Sandbox mode: a channel whose provider the environment does not configure goes to its loopback sandbox. */
  readonly sandbox: boolean;
  readonly sandboxFaults?: SandboxFaults;
  readonly secrets: SecretBox | null;
  /** Sandbox mode: start a second sandbox as the failover of each channel whose provider has failover (HERALD_SANDBOX_FAILOVER). */
  readonly sandboxFailover?: boolean;
  /** When a channel's failover takes over (HERALD_FAILOVER_THRESHOLD, HERALD_FAILOVER_COOLDOWN_MS). */
  readonly breaker?: Partial<BreakerOptions>;
  /** Herald's own base URL for receipt callbacks (e.g. http://127.0.0.1:3000); null until known, or when there is none. */
  readonly publicUrl: () => string | null;
  readonly log: Logger;
}

/** Path of a provider's receipt webhook for one sender (`default` for the environment's own credentials). */
export function receiptPath(providerName: string, senderId: string | null): string {
  return `/v1/receipts/${encodeURIComponent(providerName)}/${encodeURIComponent(senderId ?? 'default')}`;
}

/**
 * The channel providers of one process (issue 5): which provider serves each channel,
 * the loopback sandboxes in sandbox mode, and one adapter per sender (its credentials,
 * decrypted in memory only), rebuilt when the sender changes. The engine asks it for the
 * adapter of a campaign; the receipts route asks it how to check a provider's webhook.
 *
 * In sandbox mode no message may reach a real person (DESIGN §1): a channel goes to its
 * sandbox unless the environment configures its provider, and a sender's own credentials
 * are not used there — the sandbox's are.
 */
export class Providers {
  readonly #entries = new Map<Channel, Entry>();
  readonly #byName = new Map<string, Entry>();
  readonly #adapters = new Map<string, ChannelAdapter<Outgoing>>();
  readonly #opts: ProvidersOptions;

  private constructor(opts: ProvidersOptions) {
    this.#opts = opts;
  }

  /** Reads each provider's environment and starts the sandboxes sandbox mode needs. */
  static async start(opts: ProvidersOptions): Promise<Providers> {
    const providers = new Providers(opts);
    for (const module of opts.modules) {
      if (providers.#entries.has(module.channel)) continue; // the first provider listed for a channel serves it
      // In sandbox mode the environment's providers are ignored, as SMTP_HOST is: nothing may reach a real person.
      const config = opts.sandbox ? null : module.configFromEnv(opts.env);
      let entry: Omit<Entry, 'secondary'>;
      if (config !== null) entry = { module, name: module.name, config, fromEnv: true, sandbox: null };
      else if (opts.sandbox) entry = await providers.#startSandbox(module, module.name, false);
      else {
        // Not configured in the environment: senders that carry their own credentials still send.
        entry = { module, name: module.name, config: module.defaultConfig?.(opts.env) ?? null, fromEnv: false, sandbox: null };
      }
      const secondary = await providers.#secondaryOf(module);
      const full: Entry = { ...entry, secondary };
      providers.#entries.set(module.channel, full);
      providers.#byName.set(module.name, full);
      if (secondary) providers.#byName.set(secondary.name, secondary);
    }
    return providers;
  }

  async #startSandbox(module: ProviderModule, name: string, secondary: boolean): Promise<Omit<Entry, 'secondary'>> {
    const opts = this.#opts;
    const started = await module.startSandbox({
      ...opts.sandboxFaults,
      ...(secondary ? { secondary: true } : {}),
      receiptUrl: () => {
        const base = opts.publicUrl();
        return base ? `${base}${receiptPath(name, null)}` : null;
      },
    });
    opts.log.info({ channel: module.channel, provider: name, url: started.server.url }, 'sandbox provider');
    return { module, name, config: started.config, fromEnv: false, sandbox: { server: started.server, credentials: started.credentials } };
  }

  /**
   * A channel's failover provider: a second sandbox in sandbox mode with HERALD_SANDBOX_FAILOVER
   * on, else the environment's failover account (e.g. TWILIO_FAILOVER_*); null without one.
   */
  async #secondaryOf(module: ProviderModule): Promise<Entry | null> {
    if (!module.failoverConfigFromEnv) return null;
    const name = `${module.name}-failover`;
    if (this.#opts.sandbox)
      return this.#opts.sandboxFailover ? { ...(await this.#startSandbox(module, name, true)), secondary: null } : null;
    const config = module.failoverConfigFromEnv(this.#opts.env);
    return config === null ? null : { module, name, config, fromEnv: true, sandbox: null, secondary: null };
  }

  /** Whether a campaign on `channel` from this sender could send (preflight PROVIDER_NOT_CONFIGURED). */
  configured(channel: Channel, sender: Pick<SenderRow, 'credentials'> | null): boolean {
    const entry = this.#entries.get(channel);
    if (!entry) return false;
    if (entry.sandbox !== null) return true;
    // The environment's account, or the sender's own credentials on the provider's public API.
    return entry.config !== null && (entry.fromEnv || (sender?.credentials ?? null) !== null);
  }

  /** The adapter that sends for this sender on `channel`; null when neither the environment nor the sender configures one. */
  adapterFor(channel: Channel, sender: SenderRow | null): ChannelAdapter<Outgoing> | null {
    const entry = this.#entries.get(channel);
    if (!entry || !this.configured(channel, sender)) return null;
    const key = `${channel}:${sender?.id ?? '-'}:${sender?.updated_at ?? ''}`;
    let adapter = this.#adapters.get(key);
    if (!adapter) {
      const primary = this.#createAdapter(entry, sender);
      adapter = entry.secondary
        ? new FailoverAdapter({
            primary,
            secondary: this.#createAdapter(entry.secondary, sender),
            secondaryName: entry.secondary.name,
            ...(this.#opts.breaker ? { options: this.#opts.breaker } : {}),
            log: this.#opts.log,
          })
        : primary;
      this.#adapters.set(key, adapter);
    }
    return adapter;
  }

  /** One provider's adapter for a sender, asking for receipts at that provider's own path. */
  #createAdapter(entry: Entry, sender: SenderRow | null): ChannelAdapter<Outgoing> {
    const publicUrl = this.#opts.publicUrl();
    return entry.module.createAdapter(entry.config, this.#identity(entry, sender), {
      receiptUrl: publicUrl ? `${publicUrl}${receiptPath(entry.name, entry.sandbox ? null : (sender?.id ?? null))}` : null,
    });
  }

  /** How to check a receipt for `providerName` addressed to `senderId`; null for an unknown provider. */
  receiptCheck(
    providerName: string,
    sender: SenderRow | null,
  ): { module: ProviderModule; config: unknown; identity: SenderIdentity } | null {
    const entry = this.#byName.get(providerName);
    if (!entry?.module.receipts) return null;
    return { module: entry.module, config: entry.config, identity: this.#identity(entry, sender) };
  }

  /** Herald's base URL as providers reach it (HERALD_PUBLIC_URL, or where it listens); null before it listens. */
  publicUrl(): string | null {
    return this.#opts.publicUrl();
  }

  /** The running sandboxes, by channel: each channel's provider first, then its failover's. */
  sandboxes(): { channel: Channel; provider: string; server: SandboxServer }[] {
    return [...this.#entries.values()]
      .flatMap((e) => (e.secondary ? [e, e.secondary] : [e]))
      .filter((e) => e.sandbox !== null)
      .map((e) => ({ channel: e.module.channel, provider: e.name, server: e.sandbox!.server }));
  }

  /** Whether receipts for this provider come from its sandbox (so any sender segment verifies with the sandbox's credentials). */
  isSandboxed(providerName: string): boolean {
    return this.#byName.get(providerName)?.sandbox != null;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#adapters.values()].map((a) => a.close()));
    this.#adapters.clear();
    await Promise.allSettled([...this.#byName.values()].map((e) => e.sandbox?.server.close()));
  }

  #identity(entry: Entry, sender: SenderRow | null): SenderIdentity {
    return {
      id: sender?.id ?? null,
      name: sender?.from_name ?? null,
      address: sender?.address ?? null,
      credentials: entry.sandbox ? entry.sandbox.credentials : sender ? openCredentials(sender, this.#opts.secrets) : {},
    };
  }
}
