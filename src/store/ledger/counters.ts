import { type Kysely, sql } from 'kysely';
import { type MessageState, messageStates, zeroCounts } from '../../domain/messages.js';
import type { Database } from '../schema.js';

export type CounterDeltas = Partial<Record<MessageState, number>>;

/**
 * Adds deltas to a run's per-state counters. Always called inside the transaction that
 * changed the message states, so live stats never drift from the ledger (DESIGN §3).
 */
export async function bumpCounters(trx: Kysely<Database>, runId: number, deltas: CounterDeltas): Promise<void> {
  const entries = Object.entries(deltas).filter(([, n]) => n !== 0) as [MessageState, number][];
  if (entries.length === 0) return;
  const set: Record<string, unknown> = {};
  for (const [state, n] of entries) set[state] = sql`${sql.ref(state)} + ${n}`;
  await trx.updateTable('run_counters').set(set).where('run_id', '=', runId).execute();
}

/** Counts how many rows a RETURNING clause reported in each state. */
export function tally(rows: readonly { state: string }[]): CounterDeltas {
  const out: CounterDeltas = {};
  for (const row of rows) {
    const s = row.state as MessageState;
    out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}

/** The per-state counters of one run, read in O(1). */
export async function readCounters(db: Kysely<Database>, runId: number): Promise<Record<MessageState, number>> {
  const row = await db.selectFrom('run_counters').selectAll().where('run_id', '=', runId).executeTakeFirst();
  const counts = zeroCounts();
  if (row) for (const s of messageStates) counts[s] = Number(row[s]);
  return counts;
}

/** The counters summed over all runs of a campaign (a campaign has a handful of runs). */
export async function readCampaignCounters(
  db: Kysely<Database>,
  workspaceId: string,
  campaignId: string,
): Promise<Record<MessageState, number>> {
  const row = await db
    .selectFrom('run_counters')
    .innerJoin('runs', 'runs.id', 'run_counters.run_id')
    .select(messageStates.map((s) => sql<number>`coalesce(sum(run_counters.${sql.ref(s)}), 0)`.as(s)))
    .where('runs.workspace_id', '=', workspaceId)
    .where('runs.campaign_id', '=', campaignId)
    .executeTakeFirst();
  const counts = zeroCounts();
  if (row) for (const s of messageStates) counts[s] = Number((row as Record<string, unknown>)[s] ?? 0);
  return counts;
}
