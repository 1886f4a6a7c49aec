import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { ReceiptEvent } from '../../channels/receipts.js';
import type { Channel } from '../../domain/lifecycle.js';
import type { MessageState } from '../../domain/messages.js';
import { receiptTransition, takesReceipts } from '../../domain/receipt-transitions.js';
import type { SuppressionEntry, SuppressionReason } from '../../domain/suppression.js';
import { dialectOf, isWriteRace } from '../dialect.js';
import { type AddressVerdict, markDevices, suppressionEntry, verdictEffect } from '../recipient-verdicts.js';
import type { Database } from '../schema.js';
import { addSuppressions } from '../suppressions.js';
import { type CounterDeltas, bumpCounters } from './counters.js';

/** What applying a request's receipts did, for the route to answer and log. */
export interface ReceiptsApplied {
  /** Events that moved a message to a new state, or (about an address) suppressed it. */
  readonly applied: number;
  /** Events about a known message that changed nothing: repeats, late ones, messages never handed over. */
  readonly ignored: number;
  /** Events naming no message of the workspace, or an address Herald cannot place. */
  readonly unknown: number;
  /** The unknown events themselves (at most one request's worth), for the log. */
  readonly unknownEvents: readonly ReceiptEvent[];
  /** Addresses put on (or refreshed in) the suppression list: hard bounces, complaints, unsubscribes, blocks. */
  readonly suppressed: number;
  /** Push devices marked gone or invalid. */
  readonly devices: number;
  /**
   * Events the provider should send again later (the caller answers 503). None today: a
   * receipt that overtakes the record of its own send applies (domain/receipt-transitions.ts).
   */
  readonly retry?: number;
}

/** A ledger row a receipt names, with what the effects need from its run. */
interface Target {
  readonly id: number;
  readonly runId: number;
  readonly workspaceId: string;
  readonly campaignId: string;
  readonly channel: Channel;
  readonly address: string | null;
  /** The state read under lock, and the state the receipts fold it to. */
  readonly from: MessageState;
  state: MessageState;
  handedOver: boolean;
  code: string | null;
  detail: string | null;
}

interface TargetRow {
  id: number | string;
  run_id: number | string;
  workspace_id: string;
  campaign_id: string;
  channel: string;
  address: string | null;
  state: string;
  sent_at: string | null;
  provider_id: string | null;
}

/** Raised inside the transaction when a guarded write found a row changed since it was read. */
class RowMoved extends Error {}

const attempts = 4;

/** A JSON parameter read as a table `e` with the given columns, per dialect. */
function jsonTable(db: Kysely<Database>, payload: string, columns: Readonly<Record<string, 'bigint' | 'text'>>): RawBuilder<unknown> {
  const names = Object.keys(columns);
  if (dialectOf(db) === 'postgres')
    return sql`jsonb_to_recordset(${payload}::jsonb) as e(${sql.raw(names.map((n) => `${n} ${columns[n]}`).join(', '))})`;
  const fields = names.map((n) => `json_extract(value, '$.${n}') as ${n}`).join(', ');
  return sql`(select ${sql.raw(fields)} from json_each(${payload})) as e`;
}

/**
 * The messages that `events` name, read under a row lock (PostgreSQL; SQLite has one
 * writer) in (run_id, id) order so two requests never lock in opposite orders. Events with
 * a ledger key are found by (run_id, id), the ledger's own key, so the lookup stays on one
 * run's shard; events with only the provider's id are found by `provider_id` (see the
 * note in `applyReceipts`). With a workspace, another workspace's message is not found.
 */
async function readTargets(
  trx: Kysely<Database>,
  args: { workspaceId: string | null; channel: Channel | null; keys: { run_id: number; id: number }[]; providerIds: string[] },
): Promise<TargetRow[]> {
  const pg = dialectOf(trx) === 'postgres';
  const lock = pg ? sql`for update of m` : sql``;
  const inWorkspace = args.workspaceId === null ? sql`` : sql`and m.workspace_id = ${args.workspaceId}`;
  // A message that fell back to another channel (DESIGN §8) is on its own `channel`, not the run's.
  const columns = sql`m.id, m.run_id, m.workspace_id, r.campaign_id, coalesce(m.channel, r.channel) as channel, m.address, m.state, m.sent_at, m.provider_id`;
  const rows: TargetRow[] = [];
  if (args.keys.length > 0) {
    const { rows: found } = await sql<TargetRow>`
      select ${columns}
      from ${jsonTable(trx, JSON.stringify(args.keys), { run_id: 'bigint', id: 'bigint' })}
      join messages m on m.id = e.id and m.run_id = e.run_id
      join runs r on r.id = m.run_id
      where 1 = 1 ${inWorkspace}
      order by m.run_id, m.id
      ${lock}
    `.execute(trx);
    rows.push(...found);
  }
  if (args.providerIds.length > 0) {
    const ofChannel = args.channel === null ? sql`` : sql`and coalesce(m.channel, r.channel) = ${args.channel}`;
    const { rows: found } = await sql<TargetRow>`
      select ${columns}
      from ${jsonTable(trx, JSON.stringify(args.providerIds.map((p) => ({ provider_id: p }))), { provider_id: 'text' })}
      join messages m on m.receipt_key = e.provider_id and m.receipt_key is not null
      join runs r on r.id = m.run_id
      where 1 = 1 ${inWorkspace} ${ofChannel}
      order by m.run_id, m.id
      ${lock}
    `.execute(trx);
    rows.push(...found);
  }
  return rows;
}

/** The receipts' own effect on each target, folded in arrival order; counts applied and ignored events. */
function fold(events: readonly ReceiptEvent[], targetsOf: (e: ReceiptEvent) => readonly Target[]) {
  let applied = 0;
  let ignored = 0;
  const unknownEvents: ReceiptEvent[] = [];
  const effects: { workspaceId: string; entry: SuppressionEntry }[] = [];
  const devices: { workspaceId: string; channel: Channel; verdict: AddressVerdict }[] = [];
  for (const event of events) {
    const targets = targetsOf(event);
    if (targets.length === 0) {
      unknownEvents.push(event);
      continue;
    }
    let changed = false;
    for (const t of targets) {
      // The address effects follow the event, not the state change: a complaint after an
      // unsubscribe changes no state but still writes its reason; a repeat writes the same row again.
      if (takesReceipts(t.state, { handedOver: t.handedOver }) && t.address !== null) {
        const reason = suppressionReasonOf(event);
        const entry = reason && suppressionEntry(t.channel, t.address, reason, t.campaignId, event.detail ?? null);
        if (entry) effects.push({ workspaceId: t.workspaceId, entry: entry.suppression });
        if (event.recipient)
          devices.push({ workspaceId: t.workspaceId, channel: t.channel, verdict: { address: t.address, verdict: event.recipient } });
      }
      const next = receiptTransition(t.state, event.type, { handedOver: t.handedOver });
      if (next === null) continue;
      changed = true;
      t.state = next;
      t.handedOver = true;
      if (next === 'failed' || next === 'bounced') {
        t.code = event.code ?? (next === 'bounced' ? (event.hard === false ? 'SOFT_BOUNCE' : 'HARD_BOUNCE') : 'UNDELIVERED');
        t.detail = (event.detail ?? (next === 'bounced' ? 'The receiving server bounced the message' : 'Not delivered')).slice(0, 1000);
      }
    }
    if (changed) applied++;
    else ignored++;
  }
  return { applied, ignored, unknownEvents, effects, devices };
}

/** Which suppression an event asks for; null for none (a soft bounce, a delivery, an open). */
function suppressionReasonOf(event: ReceiptEvent): SuppressionReason | null {
  if (event.type === 'bounced' && event.hard === true) return 'hard_bounce';
  if (event.type === 'complained') return 'complaint';
  if (event.type === 'unsubscribed') return 'unsubscribe';
  if (event.recipient === 'blocked') return 'unsubscribe';
  return null;
}

/**
 * Writes the folded states in one statement, guarded by the state read under lock, and
 * bumps each run's counters by what actually changed, in the caller's transaction.
 * Failures keep their code and detail; a message that turns out delivered (or read,
 * opened, clicked) after a failure loses them; complaints and unsubscribes keep whatever
 * was there. A message that was `sending` gets its `sent_at` now, so a later receipt on
 * it is known to be about a message that was handed over.
 */
async function writeStates(trx: Kysely<Database>, changed: readonly Target[], now: Date): Promise<void> {
  if (changed.length === 0) return;
  const payload = JSON.stringify(
    changed.map((t) => ({ id: t.id, run_id: t.runId, from_state: t.from, to_state: t.state, code: t.code, detail: t.detail })),
  );
  const at = now.toISOString();
  // As in record-outcomes.ts: the unary + keeps SQLite from driving the update off the
  // (run_id, state) index, so each row is found by its primary key.
  const guard =
    dialectOf(trx) === 'postgres'
      ? sql`messages.run_id = e.run_id and messages.state = e.from_state`
      : sql`+messages.run_id = e.run_id and +messages.state = e.from_state`;
  const { rows } = await sql<{ id: number | string }>`
    update messages
    set state = e.to_state,
        error_code = case when e.to_state in ('failed', 'bounced') then e.code
                          when e.to_state in ('delivered', 'read', 'opened', 'clicked') then null
                          else messages.error_code end,
        error_detail = case when e.to_state in ('failed', 'bounced') then e.detail
                            when e.to_state in ('delivered', 'read', 'opened', 'clicked') then null
                            else messages.error_detail end,
        sent_at = coalesce(messages.sent_at, ${at}),
        updated_at = ${at}
    from ${jsonTable(trx, payload, { id: 'bigint', run_id: 'bigint', from_state: 'text', to_state: 'text', code: 'text', detail: 'text' })}
    where messages.id = e.id and ${guard}
    returning messages.id as id
  `.execute(trx);
  if (rows.length !== changed.length) throw new RowMoved();
  const byRun = new Map<number, CounterDeltas>();
  for (const t of changed) {
    const deltas = byRun.get(t.runId) ?? {};
    deltas[t.from] = (deltas[t.from] ?? 0) - 1;
    deltas[t.state] = (deltas[t.state] ?? 0) + 1;
    byRun.set(t.runId, deltas);
  }
  for (const [runId, deltas] of [...byRun].sort(([a], [b]) => a - b)) await bumpCounters(trx, runId, deltas);
}

/**
 * Applies verified provider receipts (DESIGN §3): each message moves up the receipt chain
 * of domain/receipt-transitions.ts or not at all, so receipts that arrive late, out of
 * order or twice end where they would have in order and once. The state changes and the
 * run counters are written in one transaction; a request's messages are read with two
 * statements and written with one, whatever its size.
 *
 * Then the audience: a hard bounce, a complaint or an unsubscribe puts the message's
 * address on the suppression list (source: the campaign), and so does a person blocking
 * a Telegram bot or leaving a Viber account (events about an address, suppressed as
 * `telegram:<chat id>` / `viber:<user id>` for `channel`); a push device the receipt calls
 * gone or invalid is marked so. These writes follow the commit: they are idempotent and
 * follow the events, not the state changes, so if the process dies between the two, the
 * provider's retry of the unanswered webhook writes them.
 *
 * Events with only a provider id (Viber's message token) are looked up by
 * `messages.receipt_key` (migration 0013), which only adapters with `receiptsByProviderId`
 * fill, so other sends do not pay for its index. Unknown messages are counted, never an error; with
 * `workspaceId`, another workspace's message is unknown.
 *
 * @example const r = await applyReceipts(db, { workspaceId, channel: 'sms', events, now }) // { applied, ignored, unknown, … }
 */
export async function applyReceipts(
  db: Kysely<Database>,
  args: {
    workspaceId?: string | null;
    /** The provider's channel: needed for events about an address; narrows provider-id lookups. */
    channel?: Channel | null;
    events: readonly ReceiptEvent[];
    now: Date;
  },
): Promise<ReceiptsApplied> {
  const workspaceId = args.workspaceId ?? null;
  const channel = args.channel ?? null;
  const messageEvents = args.events.filter((e) => e.message !== null || e.providerId !== null);
  const addressEvents = args.events.filter((e) => e.message === null && e.providerId === null);

  const keys = [
    ...new Map(messageEvents.flatMap((e) => (e.message ? [[`${e.message.runId}.${e.message.messageId}`, e.message]] : []))).values(),
  ];
  const providerIds = [...new Set(messageEvents.flatMap((e) => (e.message === null && e.providerId !== null ? [e.providerId] : [])))];

  let folded!: ReturnType<typeof fold>;
  for (let attempt = 1; ; attempt++) {
    try {
      folded = await db.transaction().execute(async (trx) => {
        const rows = await readTargets(trx, {
          workspaceId,
          channel,
          keys: keys.map((k) => ({ run_id: k.runId, id: k.messageId })),
          providerIds,
        });
        const byKey = new Map<string, Target>();
        const byProvider = new Map<string, Target[]>();
        for (const row of rows) {
          const key = `${Number(row.run_id)}.${Number(row.id)}`;
          const target: Target = byKey.get(key) ?? {
            id: Number(row.id),
            runId: Number(row.run_id),
            workspaceId: row.workspace_id,
            campaignId: row.campaign_id,
            channel: row.channel as Channel,
            address: row.address,
            from: row.state as MessageState,
            state: row.state as MessageState,
            handedOver: row.sent_at !== null,
            code: null,
            detail: null,
          };
          byKey.set(key, target);
          if (row.provider_id !== null && !(byProvider.get(row.provider_id) ?? []).includes(target))
            byProvider.set(row.provider_id, [...(byProvider.get(row.provider_id) ?? []), target]);
        }
        const result = fold(messageEvents, (e) => {
          if (e.message) {
            const t = byKey.get(`${e.message.runId}.${e.message.messageId}`);
            return t ? [t] : [];
          }
          return byProvider.get(e.providerId!) ?? [];
        });
        await writeStates(
          trx,
          [...byKey.values()].filter((t) => t.state !== t.from),
          args.now,
        );
        return result;
      });
      break;
    } catch (err) {
      if (attempt >= attempts || !(err instanceof RowMoved || isWriteRace(err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }

  // Events about an address: the channel's address of a person who blocked or left.
  const unknownEvents = [...folded.unknownEvents];
  const suppressions = [...folded.effects];
  let addressApplied = 0;
  for (const event of addressEvents) {
    const reason = suppressionReasonOf(event);
    const entry =
      workspaceId !== null && channel !== null && event.address !== undefined && reason !== null
        ? suppressionEntry(channel, event.address, reason, null, event.detail ?? null)
        : null;
    if (entry === null || workspaceId === null) unknownEvents.push(event);
    else {
      suppressions.push({ workspaceId, entry: entry.suppression });
      addressApplied++;
    }
  }

  let suppressed = 0;
  for (const ws of new Set(suppressions.map((s) => s.workspaceId))) {
    // The strongest reason last, so it is the one kept for an address suppressed twice here.
    const strength: Record<SuppressionReason, number> = { manual: 0, unsubscribe: 1, hard_bounce: 2, complaint: 3 };
    const entries = suppressions
      .filter((s) => s.workspaceId === ws)
      .map((s) => s.entry)
      .sort((a, b) => strength[a.reason] - strength[b.reason]);
    const written = await addSuppressions(db, ws, entries, args.now);
    suppressed += written.created + written.updated;
  }
  let devices = 0;
  for (const ws of new Set(folded.devices.map((d) => d.workspaceId))) {
    const marks = folded.devices
      .filter((d) => d.workspaceId === ws)
      .flatMap((d) => {
        const effect = verdictEffect(d.channel, d.verdict, null);
        return effect && 'device' in effect ? [effect.device] : [];
      });
    devices += await markDevices(db, ws, marks, args.now);
  }

  return {
    applied: folded.applied + addressApplied,
    ignored: folded.ignored,
    unknown: unknownEvents.length,
    unknownEvents,
    suppressed,
    devices,
  };
}
