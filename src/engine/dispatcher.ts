import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { SendResult } from '../channels/channel.js';
import { costOf, formatMoney } from '../domain/money.js';
import { readMoney, reserveBatch } from '../store/balance.js';
import type { ReceiptEvent } from '../channels/receipts.js';
import { applyReceipts } from '../store/ledger/apply-receipts.js';
import { type Pacing, channelChain, parseFallback } from '../domain/campaign.js';
import { autoPauseReason, autoPauseRule } from '../domain/auto-pause.js';
import { HeraldError } from '../domain/errors.js';
import type { Channel } from '../domain/lifecycle.js';
import { type RateRule, limitsAt } from '../domain/pacing.js';
import { runIsDrained, runOutcome } from '../domain/messages.js';
import type { Db } from '../store/database.js';
import { dialectOf } from '../store/dialect.js';
import { extendLeases, recoverExpiredLeases } from '../store/ledger/bulk-transitions.js';
import { type ClaimedMessage, claimBatch } from '../store/ledger/claim-batch.js';
import { readCounters } from '../store/ledger/counters.js';
import { type Outcome, recordOutcomes } from '../store/ledger/record-outcomes.js';
import { snapshotChunk } from '../store/ledger/snapshot-audience.js';
import { suppressClaimed } from '../store/ledger/suppress-claimed.js';
import { withScheduleLock } from '../store/schedule-lock.js';
import type { CampaignRow, SenderRow } from '../store/schema.js';
import { applyRecipientVerdicts } from '../store/recipient-verdicts.js';
import { holdQuietHours } from './quiet-hours.js';
import type { Automations } from './automations.js';
import { automationRunsWithWork } from '../store/ledger/automation-entries.js';
import type { CampaignService } from './campaign-service.js';
import type { Clock } from './clock.js';
import { type AnyAdapter, type RenderSend, type RunContent, inlineRenderSend } from './render-send.js';
import type { RateLimitGrant, RateLimiter } from './rate-limiter.js';
import { renderForChannel } from './render-channels.js';

export interface EngineOptions {
  /** Messages per batch; null: the adapter's own batch size. */
  readonly batchSize: number | null;
  /** Batches in flight at once. The in-flight window a crash can re-send is batchSize × this. */
  readonly concurrency: number;
  readonly leaseMs: number;
  /** How long the loop sleeps when there is nothing to do (a notify wakes it sooner). */
  readonly idleMs: number;
  readonly snapshotChunk: number;
  /**
   * PostgreSQL: snapshot chunks written at once, each on a connection of its own (SQLite has
   * one writer). Two took 31–44% off materialise-1m-pg's snapshot on 2 shared cores; three did
   * no better (docs/benchmarks.md).
   */
  readonly snapshotParallel: number;
  readonly maxAttempts: number;
  /** Base of the exponential backoff for transient failures. */
  readonly retryBaseMs: number;
}

export const defaultEngineOptions: EngineOptions = {
  batchSize: null,
  concurrency: 2,
  leaseMs: 30_000,
  idleMs: 250,
  snapshotChunk: 20_000,
  snapshotParallel: 2,
  maxAttempts: 5,
  retryBaseMs: 2_000,
};

/** The tightest rule's allowance per second (Infinity without rules). */
function tightestPerSecond(rules: readonly (RateRule | null)[], now: number): number {
  const seconds = { second: 1, minute: 60, hour: 3600 } as const;
  let perSecond = Infinity;
  for (const rule of rules) {
    for (const { window, limit } of limitsAt(rule, now)) perSecond = Math.min(perSecond, limit / seconds[window]);
  }
  return perSecond;
}

export interface EngineDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly service: CampaignService;
  /** The adapter that sends a campaign's channel for its sender; null when no provider is configured for it. */
  readonly adapterFor: (channel: Channel, sender: SenderRow | null) => AnyAdapter | null;
  readonly log: Logger;
  readonly options?: Partial<EngineOptions>;
  /** Shared rate limits; without it (or without rules) nothing is paced. */
  readonly limiter?: RateLimiter;
  /** The provider-wide rule for a channel's adapter, from configuration. */
  readonly providerRule?: (channel: Channel) => RateRule | null;
  readonly workerId?: string;
  /** Where an adapter's batches are rendered and sent: its send threads, or (by default) this thread. */
  readonly renderSendFor?: (adapter: AnyAdapter) => RenderSend | null;
  /** Where email links lead and the key that signs them (engine/email-compose.ts); without it emails carry none. */
  readonly emailLinks?: () => { readonly baseUrl: string; readonly key: string };
  /** Live automations: date triggers evaluated with the schedules; their runs sent like any other. */
  readonly automations?: Automations;
}

/** Where one channel's messages of a batch go: its adapter and content, and the channels after it in the campaign's chain. */
interface Route {
  readonly channel: Channel;
  readonly adapter: AnyAdapter;
  readonly content: RunContent;
  readonly senderId: string | null;
  /** Fallback channels after this one (DESIGN §8); empty for a campaign without fallbacks. */
  readonly next: readonly Channel[];
}

interface ActiveRun {
  readonly campaign: CampaignRow;
  readonly runId: number;
}

/**
 * Moves campaigns through time (DESIGN §4): fires due schedules, snapshots audiences,
 * claims leased batches of pending messages, renders and sends them, records outcomes
 * batch by batch, recovers expired leases, and completes runs only when nothing is
 * pending or in flight.
 *
 * Invariant: every message a slot claims is released by recordOutcomes — sent, failed,
 * or back to pending — before the slot claims again. If the process dies first, the
 * lease expires and recovery returns the message to pending; that is the only way a
 * recipient can receive a message twice, and it carries the same Message-ID.
 */
export class Engine {
  readonly #deps: EngineDeps;
  readonly #opts: EngineOptions;
  readonly #owner: string;
  #running = false;
  readonly #controlWaiters = new Set<() => void>();
  readonly #sendWaiters = new Set<() => void>();
  /** Runs held back by a rate limit until this time (epoch ms): paced or refused. */
  readonly #runNotBefore = new Map<number, number>();
  /** Providers that asked to wait (Retry-After) until this time, by channel (one provider serves a channel). */
  readonly #providerNotBefore = new Map<string, number>();
  #loops: Promise<void>[] = [];
  #lastRecovery = 0;
  /**
   * Recent outcomes per run, for the auto-pause rule: this worker's own sends since the
   * campaign's last change of version (a resume starts a fresh window).
   */
  readonly #windows = new Map<number, { version: number; batches: { at: number; sent: number; failed: number }[] }>();
  /** Slots of this engine with a batch claimed and not yet recorded. */
  readonly #busyOwners = new Set<string>();
  #handedOver = 0;
  #round = 0;
  /** Channel prices by workspace and when they were read (monotonic ms); see #priceOf. */
  readonly #prices = new Map<string, { readAt: number; prices: Record<Channel, number> }>();

  constructor(deps: EngineDeps) {
    this.#deps = deps;
    this.#opts = { ...defaultEngineOptions, ...deps.options };
    this.#owner = deps.workerId ?? `w-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  get owner(): string {
    return this.#owner;
  }

  /** Messages this engine handed to a provider since it started (for tests and logs). */
  get handedOver(): number {
    return this.#handedOver;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loops = [this.#controlLoop(), ...Array.from({ length: this.#opts.concurrency }, (_, i) => this.#sendLoop(i))];
  }

  /** Stops claiming, lets in-flight batches finish and record, then resolves. */
  async stop(): Promise<void> {
    this.#running = false;
    this.notify();
    await Promise.all(this.#loops);
  }

  /** Wakes the loops now (after a launch, resume, restart…) instead of at the next idle tick. */
  notify(): void {
    for (const wake of [...this.#controlWaiters, ...this.#sendWaiters]) wake();
  }

  /** Sleeps up to ms; a wake of its kind ends the sleep early. */
  #sleep(ms: number, waiters: Set<() => void>): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  async #controlLoop(): Promise<void> {
    while (this.#running) {
      let busy = false;
      try {
        busy = await this.tick();
      } catch (err) {
        this.#deps.log.error({ err }, 'engine tick failed');
      }
      if (!busy) await this.#sleep(this.#opts.idleMs, this.#controlWaiters);
    }
  }

  /**
   * One pass of the bookkeeping: due schedules, lease recovery, snapshot chunks,
   * completions. Returns whether it did something (then it runs again at once).
   */
  async tick(): Promise<boolean> {
    const { db, clock, service } = this.#deps;
    const now = clock.now();
    let busy = false;

    await withScheduleLock(db, async () => {
      const due = await db
        .selectFrom('campaigns')
        .selectAll()
        .where('status', '=', 'scheduled')
        .where('send_at', '<=', now.toISOString())
        .limit(20)
        .execute();
      for (const campaign of due) {
        const r = await service.fireDue(campaign).catch((err: unknown) => this.#conflict(err));
        if (r && !r.ok) this.#deps.log.warn({ campaign: campaign.id, error: r.error }, 'could not start a due campaign');
        busy = true;
      }
      if (this.#deps.automations && (await this.#deps.automations.tick([...this.#busyOwners])) > 0) busy = true;
    });

    const active = await db
      .selectFrom('campaigns')
      .innerJoin('runs', 'runs.id', 'campaigns.current_run_id')
      .selectAll('campaigns')
      .select(['runs.snapshot_done'])
      .where('campaigns.status', 'in', ['queued', 'sending', 'paused', 'stopped', 'failed'])
      .where((eb) => eb.or([eb('runs.finished_at', 'is', null), eb('runs.snapshot_done', '=', 0)]))
      .execute();

    if (now.getTime() - this.#lastRecovery >= Math.min(1000, this.#opts.leaseMs / 2)) {
      this.#lastRecovery = now.getTime();
      for (const c of active) {
        const back = await recoverExpiredLeases(db, { runId: c.current_run_id!, campaignId: c.id, now, keepOwners: [...this.#busyOwners] });
        if (back > 0) {
          this.#deps.log.warn({ campaign: c.id, run: c.current_run_id, messages: back }, 'recovered messages from expired leases');
          busy = true;
        }
      }
    }

    for (const c of active) {
      // One campaign's trouble (say, a snapshot that fails) must not hold up the others.
      try {
        if (await this.#advance(c, now)) busy = true;
      } catch (err) {
        this.#deps.log.error({ err, campaign: c.id }, 'could not advance a campaign; will try again');
      }
    }
    return busy;
  }

  /** Moves one active campaign along: a snapshot chunk, TTL, begin sending, completion. Returns whether it did something. */
  async #advance(c: CampaignRow & { snapshot_done: number }, now: Date): Promise<boolean> {
    const { db, service } = this.#deps;
    let busy = false;
    const runId = c.current_run_id!;
    if (!c.snapshot_done) {
      const chunk = await snapshotChunk(db, runId, this.#opts.snapshotChunk, now, { parallel: this.#opts.snapshotParallel });
      busy = true;
      if (!chunk.done) return busy;
      // PostgreSQL plans the claim from table statistics; a fresh million rows would wait for
      // autovacuum and the claim would scan instead of using the pending index mid-send.
      if (dialectOf(db) === 'postgres') await sql`analyze messages`.execute(db);
    }
    const fresh = await db.selectFrom('campaigns').selectAll().where('id', '=', c.id).executeTakeFirstOrThrow();
    if ((fresh.status === 'sending' || fresh.status === 'paused') && (await service.expireUnsent(fresh)) > 0) busy = true;
    if (fresh.status === 'queued') {
      const states = await readCounters(db, runId);
      if (states.pending === 0 && states.cancelled === 0) {
        await service
          .system(fresh, 'fail', { reasons: [{ code: 'AUDIENCE_EMPTY', detail: 'The audience snapshot holds no recipient.' }] })
          .catch((err: unknown) => this.#conflict(err));
      } else {
        await service.system(fresh, 'begin_sending').catch((err: unknown) => this.#conflict(err));
      }
      this.notify();
      busy = true;
      return busy;
    }
    if (fresh.status === 'sending') {
      const states = await readCounters(db, runId);
      if (runIsDrained(states)) {
        const total = Object.values(states).reduce((a, b) => a + b, 0);
        // A run can reach sending without a begin_sending check (resumed or retried mid-snapshot).
        const r =
          total === 0
            ? await service.system(fresh, 'fail', {
                reasons: [{ code: 'AUDIENCE_EMPTY', detail: 'The audience snapshot holds no recipient.' }],
              })
            : await service.system(fresh, 'complete', { outcome: runOutcome(states) });
        if (!r.ok) this.#conflict(new HeraldError(r.error));
        else this.#deps.log.info({ campaign: c.id, run: runId, status: r.value.status, outcome: r.value.outcome }, 'run finished');
        busy = true;
      }
    } else if (fresh.status === 'stopped' || fresh.status === 'failed') {
      // A halted run is finished once its in-flight batches have drained.
      const states = await readCounters(db, runId);
      if (states.sending === 0)
        await db
          .updateTable('runs')
          .set({ finished_at: now.toISOString() })
          .where('id', '=', runId)
          .where('finished_at', 'is', null)
          .execute();
    }
    return busy;
  }

  #conflict(err: unknown): undefined {
    // Someone (a person, another worker) changed the campaign first; the next tick re-reads it.
    const race = err instanceof HeraldError && (err.code === 'VERSION_CONFLICT' || err.code === 'ACTION_NOT_ALLOWED');
    if (race) this.#deps.log.debug({ err }, 'transition lost a race; will retry');
    else this.#deps.log.error({ err }, 'engine transition failed');
    return undefined;
  }

  /**
   * A sending run to work on, round-robin so concurrent campaigns share the slots. Runs held
   * back by a rate limit (and campaigns whose provider asked to wait) are skipped until
   * their time, so one throttled campaign never stalls the others. Returns the earliest
   * such time when every run is held back.
   */
  async #nextRun(): Promise<{ run?: ActiveRun; wakeAt?: number }> {
    const sending = await this.#deps.db
      .selectFrom('campaigns')
      .innerJoin('runs', 'runs.id', 'campaigns.current_run_id')
      .selectAll('campaigns')
      .where('campaigns.status', '=', 'sending')
      .where('runs.snapshot_done', '=', 1)
      .orderBy('campaigns.id')
      .execute();
    const rows: ActiveRun[] = sending.map((campaign) => ({ campaign, runId: campaign.current_run_id! }));
    // Live automations send from each period run with pending messages.
    if (this.#deps.automations?.hasLive)
      rows.push(...(await automationRunsWithWork(this.#deps.db)).map(({ run_id, ...campaign }) => ({ campaign, runId: run_id })));
    const now = this.#deps.clock.now().getTime();
    let wakeAt: number | undefined;
    for (let i = 0; i < rows.length; i++) {
      const { campaign, runId } = rows[this.#round++ % rows.length]!;
      const notBefore = Math.max(this.#runNotBefore.get(runId) ?? 0, this.#providerNotBefore.get(campaign.channel) ?? 0);
      if (notBefore <= now) return { run: { campaign, runId } };
      wakeAt = Math.min(wakeAt ?? Infinity, notBefore);
    }
    return wakeAt === undefined ? {} : { wakeAt };
  }

  async #sendLoop(slot: number): Promise<void> {
    // Each slot leases under its own name, so one slot's heartbeat never covers another's batch.
    const owner = `${this.#owner}-s${slot}`;
    while (this.#running) {
      let claimed = 0;
      let wakeAt: number | undefined;
      try {
        const next = await this.#nextRun();
        wakeAt = next.wakeAt;
        if (next.run) {
          claimed = await this.#sendBatch(next.run, owner);
          // Held back by a rate limit (no tokens yet, or another slot's slice reserved): the run
          // says when it may go again. Sleeping the idle interval instead cost a 100/s limit
          // up to 250 ms of its allowance whenever that happened.
          const notBefore = this.#runNotBefore.get(next.run.runId);
          if (claimed === 0 && notBefore !== undefined && notBefore > this.#deps.clock.now().getTime())
            wakeAt = Math.min(wakeAt ?? Infinity, notBefore);
        }
      } catch (err) {
        this.#deps.log.error({ err, slot }, 'send batch failed');
      }
      if (claimed === 0) {
        // The run may just have drained: let the control loop record the completion now.
        for (const wake of [...this.#controlWaiters]) wake();
        // Everything held back by a rate limit: come back when the first may go again.
        const wait = wakeAt ? Math.min(Math.max(wakeAt - this.#deps.clock.now().getTime(), 1), this.#opts.idleMs) : this.#opts.idleMs;
        await this.#sleep(wait, this.#sendWaiters);
      }
    }
  }

  readonly #inline = new WeakMap<AnyAdapter, RenderSend>();

  #renderSendOf(adapter: AnyAdapter): RenderSend {
    const threaded = this.#deps.renderSendFor?.(adapter);
    if (threaded) return threaded;
    let inline = this.#inline.get(adapter);
    if (!inline) this.#inline.set(adapter, (inline = inlineRenderSend(adapter)));
    return inline;
  }

  /** The content of a campaign's channel (its own, or a fallback's) from its template and sender; undefined when either is gone. */
  async #content(
    c: CampaignRow,
    channel: Channel = c.channel as Channel,
    templateId: string | null = c.template_id,
    senderId: string | null = c.sender_id,
  ): Promise<{ content: RunContent; senderRule: RateRule | null; sender: SenderRow } | undefined> {
    const db = this.#deps.db;
    const [template, sender] = await Promise.all([
      db
        .selectFrom('templates')
        .selectAll()
        .where('id', '=', templateId ?? '')
        .executeTakeFirst(),
      db
        .selectFrom('senders')
        .selectAll()
        .where('id', '=', senderId ?? '')
        .executeTakeFirst(),
    ]);
    if (!template || !sender) return undefined;
    const senderRule = sender.rate_limit ? (JSON.parse(sender.rate_limit) as RateRule) : null;
    const common = {
      workspaceId: c.workspace_id,
      campaignId: c.id,
      campaignName: c.name,
      templateKey: `${template.id}:${template.updated_at}`,
    };
    if (channel === 'email') {
      if (!sender.from_email) return undefined;
      const content: RunContent = {
        ...common,
        subject: template.subject ?? '',
        html: template.html,
        text: template.text,
        from: { name: sender.from_name, address: sender.from_email },
        replyTo: sender.reply_to,
        links: this.#deps.emailLinks && {
          ...this.#deps.emailLinks(),
          opens: template.track_opens !== 0,
          clicks: template.track_clicks !== 0,
        },
      };
      return { content, senderRule, sender };
    }
    if (!template.content) return undefined;
    const content: RunContent = {
      ...common,
      channel,
      content: JSON.parse(template.content) as unknown,
      sender: { name: sender.from_name, address: sender.address, avatarUrl: sender.avatar_url },
    };
    return { content, senderRule, sender };
  }

  /** Claims one batch of a run, sends it, records it. Returns how many messages were claimed. */
  async #sendBatch(run: ActiveRun, owner: string): Promise<number> {
    const { service, limiter } = this.#deps;
    const c = run.campaign;
    const loaded = await this.#content(c);
    const adapter = loaded ? this.#deps.adapterFor(c.channel as Channel, loaded.sender) : null;
    if (!adapter || !loaded) {
      const reasons = [
        loaded
          ? { code: 'PROVIDER_NOT_CONFIGURED', detail: `No ${c.channel} provider is configured.` }
          : { code: 'TEMPLATE_MISSING', detail: 'The template or the sender disappeared while sending.' },
      ];
      await service.system(c, 'fail', { reasons }).catch((err: unknown) => this.#conflict(err));
      return 0;
    }
    const pacing = JSON.parse(c.pacing) as Pacing;
    let limit = pacing.batchSize ?? this.#opts.batchSize ?? defaultClaim(adapter);

    // Rate limits (DESIGN §4): the sender's own and the provider's, shared by every worker
    // through the database. Without any rule there is nothing to ask.
    const senderKey = `sender:${c.sender_id}`;
    const providerKey = `provider:${adapter.name}`;
    const providerRule = this.#deps.providerRule?.(c.channel as Channel) ?? null;
    let grant: RateLimitGrant | undefined;
    if (limiter && (loaded.senderRule || providerRule)) {
      // Ask in slices of a tenth of a second's allowance, and space the slices (below), so
      // messages leave evenly: a provider counts arrivals, and a second's worth granted at
      // once, landing late, would crowd the provider's next second with the following burst.
      const nowMs = this.#deps.clock.now().getTime();
      const perSecond = tightestPerSecond([loaded.senderRule, providerRule], nowMs);
      limit = Math.min(limit, Math.max(1, Math.ceil(perSecond / 10)));
      // Another slot may have taken this run's slice while this one loaded the content; and
      // until this grant returns, the next slice is reserved, so two slots starting together
      // do not both take one (a 20-message first slice put 110 in the first second).
      const reservedUntil = this.#runNotBefore.get(run.runId) ?? 0;
      if (reservedUntil > nowMs) return 0;
      if (perSecond !== Infinity) this.#runNotBefore.set(run.runId, nowMs + (limit * 1000) / perSecond);
      grant = await limiter.take({
        workspaceId: c.workspace_id,
        keys: [senderKey],
        shared: [providerKey],
        rules: { [senderKey]: loaded.senderRule ?? undefined, [providerKey]: providerRule ?? undefined },
        want: limit,
      });
      if (grant.granted === 0) {
        this.#runNotBefore.set(run.runId, grant.retryAt?.getTime() ?? this.#deps.clock.now().getTime() + 1000);
        return 0;
      }
      limit = grant.granted;
      // Space the run's next slice by what this one is worth at the limit, for every slot, so
      // messages leave evenly. That no second of arrivals exceeds the limit, however late a
      // request lands, is the limiter's (it counts sent messages from the answer: settle below).
      if (perSecond !== Infinity) this.#runNotBefore.set(run.runId, grant.at.getTime() + (grant.granted * 1000) / perSecond);
    }

    this.#busyOwners.add(owner);
    try {
      const answer: Answer = { at: null };
      const sent = await this.#sendClaimed(run, owner, adapter, loaded.content, limit, answer);
      // Tokens for messages that never went out (a short claim, a skipped contact) go back,
      // and the rest count from the provider's answer, by when they have certainly arrived.
      if (grant) await limiter!.settle(grant, sent.handed, answer.at);
      return sent.claimed;
    } finally {
      this.#busyOwners.delete(owner);
    }
  }

  /**
   * Claims up to `limit` messages under `owner`, renders, sends and records them. A campaign
   * with fallback channels (DESIGN §8) may claim messages on several channels at once: each
   * channel's messages go as one group through that channel's adapter with its content. A
   * campaign without fallbacks claims only rows on its own channel and sends one group, with
   * the statements it always had.
   */
  async #sendClaimed(
    run: ActiveRun,
    owner: string,
    adapter: AnyAdapter,
    content: RunContent,
    limit: number,
    answer: Answer,
  ): Promise<{ claimed: number; handed: number }> {
    const { db, clock } = this.#deps;
    const c = run.campaign;
    const leaseMs = this.#opts.leaseMs;
    const leased = await claimBatch(db, { runId: run.runId, campaignId: c.id, owner, limit, leaseMs, now: clock.now() });
    if (leased.length === 0) return { claimed: 0, handed: 0 };
    const primary = c.channel as Channel;
    const own: Route = { channel: primary, adapter, content, senderId: c.sender_id, next: [] };
    const fallback = parseFallback(c.fallback);
    if (fallback.length === 0) return { claimed: leased.length, handed: await this.#sendGroup(run, owner, own, leased, answer) };

    const chain = channelChain(primary, fallback);
    const groups = new Map<Channel, ClaimedMessage[]>();
    for (const m of leased) {
      const channel = m.channel ?? primary;
      groups.set(channel, [...(groups.get(channel) ?? []), m]);
    }
    let handed = 0;
    for (const [channel, messages] of groups) {
      const next = chain.slice(chain.indexOf(channel) + 1);
      const route = channel === primary ? { ...own, next } : await this.#fallbackRoute(c, channel, next);
      if (route) {
        handed += await this.#sendGroup(run, owner, route, messages, answer);
        continue;
      }
      // The fallback was removed from the campaign (or its template, sender or provider went)
      // while this message waited for it: it fails, saying so, and the rest of the batch goes on.
      const detail = `The campaign no longer sends on ${channel}, or its ${channel} template, sender or provider is gone.`;
      await recordOutcomes(db, {
        runId: run.runId,
        campaignId: c.id,
        workspaceId: c.workspace_id,
        owner,
        outcomes: messages.map((m) => ({ id: m.id, state: 'failed' as const, code: 'FALLBACK_UNAVAILABLE', detail })),
        now: clock.now(),
      });
    }
    return { claimed: leased.length, handed };
  }

  /** A fallback channel's adapter and content, from the campaign's fallback entry; undefined when it cannot send. */
  async #fallbackRoute(c: CampaignRow, channel: Channel, next: readonly Channel[]): Promise<Route | undefined> {
    const entry = parseFallback(c.fallback).find((f) => f.channel === channel);
    if (!entry) return undefined;
    const loaded = await this.#content(c, channel, entry.templateId, entry.senderId);
    const adapter = loaded ? this.#deps.adapterFor(channel, loaded.sender) : null;
    if (!loaded || !adapter) return undefined;
    return { channel, adapter, content: loaded.content, senderId: entry.senderId, next };
  }

  /**
   * Sends one channel's messages of a claimed batch and records them. Returns how many went
   * to the provider, and notes in `answer` when it answered.
   */
  async #sendGroup(run: ActiveRun, owner: string, route: Route, leased: readonly ClaimedMessage[], answer: Answer): Promise<number> {
    const { db, clock, service, log } = this.#deps;
    const c = run.campaign;
    const leaseMs = this.#opts.leaseMs;
    const { adapter, content, channel } = route;
    // Suppression is checked again before every send (DESIGN §4): messages whose address was
    // suppressed after the snapshot are recorded `suppressed` (and released) by suppressClaimed
    // and dropped here; only the rest is rendered and sent.
    const unsuppressed = await suppressClaimed(db, {
      runId: run.runId,
      channel,
      owner,
      messages: leased,
      now: clock.now(),
    });
    // Quiet hours (DESIGN §2): messages claimed inside a recipient's quiet hours wait for their end.
    let claimed = await holdQuietHours(db, { campaign: c, runId: run.runId, owner, messages: unsuppressed, now: clock.now() });
    if (claimed.length === 0) return 0;
    // Money (store/balance.ts): a priced channel's batch is paid for before it goes out, and
    // only what the balance covers goes; a free channel (price 0, the default) skips this.
    const price = await this.#priceOf(c.workspace_id, channel);
    const charged = price > 0;
    if (charged) {
      claimed = await this.#reserve(run, owner, content, claimed, price);
      if (claimed.length === 0) return 0;
    }

    // Heartbeat: while the batch is at the provider its lease keeps moving ahead, so lease
    // recovery only ever takes the batches of a worker that died.
    const heartbeat = setInterval(
      () => {
        extendLeases(db, { runId: run.runId, owner, until: clock.now().getTime() + leaseMs }).catch((err: unknown) =>
          log.error({ err, campaign: c.id }, 'could not extend a lease'),
        );
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    try {
      const batch = await this.#renderSendOf(adapter).renderAndSend(content, claimed);
      const outcomes: Outcome[] = [...batch.unsent];
      const { fatal, results } = batch;
      const attempts = new Map(claimed.map((m) => [m.id, m.attempts]));
      const now = clock.now();
      answer.at = now;
      // A provider that asked to wait (Retry-After) gets no request from this engine until then;
      // its answers are throttling, not failures, and stay out of the auto-pause window.
      const throttled = new Set<number>();
      for (const r of results) {
        if (r.ok || !r.retryAfterMs) continue;
        throttled.add(r.messageId);
        const until = now.getTime() + r.retryAfterMs;
        if (until > (this.#providerNotBefore.get(channel) ?? 0)) this.#providerNotBefore.set(channel, until);
      }
      for (const r of results) {
        // After a provider-wide refusal, what it accepted is sent; the rest waits for a retry untouched.
        if (fatal && !r.ok)
          outcomes.push({ id: r.messageId, state: 'pending', code: fatal.code, detail: fatal.message, retryAt: now.getTime() });
        else outcomes.push(this.#outcomeOf(r, attempts.get(r.messageId) ?? 1, now));
      }
      // Invariant: every claimed message is released here — recorded, or back to pending.
      const answered = new Set(outcomes.map((o) => o.id));
      for (const m of claimed) {
        if (!answered.has(m.id))
          outcomes.push({
            id: m.id,
            state: 'pending',
            code: fatal?.code ?? 'NO_RESULT',
            detail: fatal?.message ?? 'The provider gave no result for this message.',
            retryAt: now.getTime(),
          });
      }
      // With fallback channels left, a permanent failure moves the message on (store/ledger/fall-back.ts).
      const permanent = new Set(results.flatMap((r) => (!r.ok && r.kind === 'permanent' ? [r.messageId] : [])));
      const fallBack =
        route.next.length > 0 && permanent.size > 0
          ? { ids: outcomes.filter((o) => o.state === 'failed' && permanent.has(o.id)).map((o) => o.id), from: channel, next: route.next }
          : undefined;
      await recordOutcomes(db, {
        runId: run.runId,
        campaignId: c.id,
        workspaceId: c.workspace_id,
        owner,
        outcomes,
        now,
        charged,
        keyByProviderId: adapter.capabilities.receiptsByProviderId === true,
        ...(fallBack ? { fallBack } : {}),
      });
      if (adapter.capabilities.acceptedIsDelivered) {
        const delivered: ReceiptEvent[] = results.flatMap((r) =>
          r.ok ? [{ message: { runId: run.runId, messageId: r.messageId }, providerId: null, type: 'delivered' as const, at: now }] : [],
        );
        if (delivered.length > 0) await applyReceipts(db, { workspaceId: c.workspace_id, channel, events: delivered, now });
      }
      // What the provider said about addresses themselves (a web push subscription gone, an FCM
      // token unregistered, a blocked bot): the device or chat is not used again.
      const addressOfId = new Map(claimed.map((m) => [m.id, m.address]));
      const verdicts = results.flatMap((r) =>
        !r.ok && r.recipient && addressOfId.has(r.messageId) ? [{ address: addressOfId.get(r.messageId)!, verdict: r.recipient }] : [],
      );
      if (verdicts.length > 0)
        await applyRecipientVerdicts(db, { workspaceId: c.workspace_id, channel, verdicts, now }).catch((err: unknown) =>
          log.error({ err, campaign: c.id }, 'could not record what the provider said about recipients'),
        );
      this.#handedOver += outcomes.filter((o) => o.state === 'sent').length;
      if (!fatal)
        await this.#watchFailureRate(
          run,
          outcomes.filter((o) => !throttled.has(o.id)),
          now,
        );
      if (fatal) {
        log.error({ campaign: c.id, channel, code: fatal.code }, 'provider refused the whole campaign');
        // A revoked bot token blocks its sender until new credentials are stored (preflight BOT_BLOCKED).
        if (fatal.code === 'BOT_BLOCKED' && route.senderId)
          await db
            .updateTable('senders')
            .set({ status: 'blocked', updated_at: now.toISOString() })
            .where('id', '=', route.senderId)
            .where('status', '=', 'active')
            .execute();
        const fresh = await db.selectFrom('campaigns').selectAll().where('id', '=', c.id).executeTakeFirstOrThrow();
        await service
          .system(fresh, 'fail', { reasons: [{ code: fatal.code, detail: fatal.message }] })
          .catch((e: unknown) => this.#conflict(e));
      }
      return batch.handed;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * A channel's price in a workspace, read at most once a second per workspace: a free
   * channel's batches cost one map lookup, and a price change reaches running sends within
   * a second. Monotonic time, not the engine's clock, which tests may hold still.
   */
  async #priceOf(workspaceId: string, channel: Channel): Promise<number> {
    const now = performance.now();
    let cached = this.#prices.get(workspaceId);
    if (!cached || now - cached.readAt > 1000) {
      const money = await readMoney(this.#deps.db, workspaceId);
      cached = { readAt: now, prices: money?.prices ?? ({} as Record<Channel, number>) };
      this.#prices.set(workspaceId, cached);
    }
    return cached.prices[channel] ?? 0;
  }

  /**
   * Reserves a claimed batch's cost (store/balance.ts) once each message's cost is known — an
   * SMS's segments come from its rendering — and returns the messages the balance pays for.
   * When it pays for fewer, the rest is back to pending and the campaign pauses with
   * INSUFFICIENT_BALANCE: a top-up and a resume go on exactly where it stopped.
   */
  async #reserve(run: ActiveRun, owner: string, content: RunContent, claimed: readonly ClaimedMessage[], price: number) {
    const { db, clock, service, log } = this.#deps;
    const c = run.campaign;
    const costs = claimed.map((m) => ({ id: m.id, cost: costOf(price, costUnits(content, m)) }));
    const r = await reserveBatch(db, { workspaceId: c.workspace_id, campaignId: c.id, runId: run.runId, owner, costs, now: clock.now() });
    if (r.released > 0) {
      const next = costs.find((x) => !r.reserved.has(x.id))!.cost;
      const currency = (await readMoney(db, c.workspace_id))?.currency ?? 'USD';
      const detail =
        `The balance (${formatMoney(r.balance, currency)}) does not cover the next message (${formatMoney(next, currency)}); ` +
        `the unsent messages wait: top up the balance and resume.`;
      log.warn({ campaign: c.id, run: run.runId, balance: r.balance, next }, 'balance ran out: pausing the campaign');
      const fresh = await db.selectFrom('campaigns').selectAll().where('id', '=', c.id).executeTakeFirst();
      if (fresh?.status === 'sending')
        await service
          .system(fresh, 'auto_pause', { reasons: [{ code: 'INSUFFICIENT_BALANCE', detail }], reason: detail })
          .catch((e: unknown) => this.#conflict(e));
    }
    return claimed.filter((m) => r.reserved.has(m.id));
  }

  /** Pauses the campaign when its recent failure rate passes its auto-pause rule (seed 001). */
  async #watchFailureRate(run: ActiveRun, outcomes: readonly Outcome[], now: Date): Promise<void> {
    const c = run.campaign;
    const rule = autoPauseRule((JSON.parse(c.pacing) as Pacing).autoPause);
    if (!rule.enabled) return;
    let window = this.#windows.get(run.runId);
    if (!window || window.version !== c.version) {
      window = { version: c.version, batches: [] };
      this.#windows.set(run.runId, window);
    }
    // A transient failure that will be retried still counts: it is a send that failed.
    const failed = outcomes.filter((o) => o.state === 'failed' || o.state === 'pending').length;
    const sent = outcomes.filter((o) => o.state === 'sent').length;
    window.batches.push({ at: now.getTime(), sent, failed });
    const since = now.getTime() - rule.windowMinutes * 60_000;
    while (window.batches.length > 0 && window.batches[0]!.at < since) window.batches.shift();
    const totals = window.batches.reduce((t, b) => ({ sent: t.sent + b.sent, failed: t.failed + b.failed }), { sent: 0, failed: 0 });
    const reason = autoPauseReason(totals, rule);
    if (!reason) return;
    const fresh = await this.#deps.db.selectFrom('campaigns').selectAll().where('id', '=', c.id).executeTakeFirst();
    if (fresh?.status !== 'sending') return;
    const r = await this.#deps.service
      .system(fresh, 'auto_pause', { reasons: [reason], reason: reason.detail })
      .catch((e: unknown) => this.#conflict(e));
    if (r?.ok) {
      this.#windows.delete(run.runId);
      this.#deps.log.warn({ campaign: c.id, run: run.runId, ...totals }, 'campaign paused itself: failure rate above its limit');
    }
  }

  #outcomeOf(r: SendResult, attempts: number, now: Date): Outcome {
    if (r.ok) return { id: r.messageId, state: 'sent', providerId: r.providerId };
    if (r.kind === 'transient' && attempts < this.#opts.maxAttempts) {
      // Exponential backoff with full jitter: base × 2^(attempt-1), capped at 10 minutes.
      const ceiling = Math.min(this.#opts.retryBaseMs * 2 ** (attempts - 1), 600_000);
      return {
        id: r.messageId,
        state: 'pending',
        code: r.code,
        detail: r.detail,
        // Never before the provider's own Retry-After, when it gave one.
        retryAt: now.getTime() + Math.max(Math.round(ceiling / 2 + (Math.random() * ceiling) / 2), r.retryAfterMs ?? 0),
      };
    }
    return { id: r.messageId, state: 'failed', code: r.code, detail: r.detail };
  }
}

/**
 * Billable units of one claimed message: an SMS's segments as rendered (the body the
 * provider gets; a template error costs nothing, the message will fail unsent), one for
 * any other channel, none for a contact deleted since the snapshot.
 */
function costUnits(content: RunContent, m: ClaimedMessage): number {
  if (!m.contact) return 0;
  if (!('channel' in content) || content.channel !== 'sms') return 1;
  try {
    const sms = renderForChannel(content, m, m.contact);
    return sms.channel === 'sms' ? sms.segments : 1;
  } catch {
    return 0;
  }
}

/** When the provider answered a slot's batch (the latest of its channels' requests); null when nothing was sent. */
interface Answer {
  at: Date | null;
}

/**
 * Messages per claim when nothing sets it: the adapter's batch (one request), or, for a
 * provider taking one message a request, four rounds of what it may have in flight, so a
 * claim keeps every request lane busy and its claim, check and record statements are
 * shared by enough messages (at 16 a claim, SQLite commits were a third of the database time).
 */
function defaultClaim(adapter: AnyAdapter): number {
  const { batchSize, concurrency } = adapter.capabilities;
  return batchSize === 1 ? concurrency * 4 : batchSize;
}
