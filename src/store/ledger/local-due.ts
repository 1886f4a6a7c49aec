import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Delivery } from '../../domain/schedule.js';
import { recipientDue } from '../../domain/schedule.js';
import { effectiveZone, isKnownZone } from '../../domain/segment.js';
import { inList } from '../dialect.js';
import type { Database } from '../schema.js';

interface DueArgs {
  delivery: Delivery;
  /** The moment the local send time is looked for from: the run's launch, or a restart. */
  launch: Date;
  workspaceZone: string;
}

/**
 * Each message's `next_attempt_at` (epoch ms) for a run with delivery rules (a local send
 * time, quiet hours), as one SQL expression over `contacts as c`, so the snapshot stays one
 * `INSERT … SELECT` however many contacts it writes. Neither database converts zones
 * (SQLite has no zone database; PostgreSQL's may differ from Node's), so, as the segment
 * compiler does for "today", the due instant is computed in JavaScript once per distinct
 * zone among the chunk's contacts (a few hundred at most), grouped by instant (no more
 * than the world's distinct offsets, about 40):
 *
 *   case when c.time_zone in (<zones due at t1>) then t1 when … else <the workspace's> end
 *
 * Contacts without a zone, or with one the runtime does not know, take the workspace's.
 */
export async function localDueSql(
  db: Kysely<Database>,
  args: DueArgs & { workspaceId: string; after: number; upto: number },
): Promise<RawBuilder<number>> {
  const zones = await db
    .selectFrom('contacts')
    .select('time_zone')
    .distinct()
    .where('workspace_id', '=', args.workspaceId)
    .where('id', '>', args.after)
    .where('id', '<=', args.upto)
    .where('time_zone', 'is not', null)
    .execute();
  return dueByZone(
    zones.map((z) => z.time_zone),
    args,
  );
}

/** The `case` expression of {@link localDueSql} for the given zones. */
function dueByZone(zones: readonly (string | null)[], args: DueArgs): RawBuilder<number> {
  const fallback = recipientDue(args.launch, args.delivery, effectiveZone(null, args.workspaceZone)).getTime();
  const byDue = new Map<number, string[]>();
  for (const zone of zones) {
    if (zone === null || !isKnownZone(zone)) continue;
    const due = recipientDue(args.launch, args.delivery, zone).getTime();
    if (due !== fallback) byDue.set(due, [...(byDue.get(due) ?? []), zone]);
  }
  if (byDue.size === 0) return sql<number>`cast(${fallback} as bigint)`;
  const whens = [...byDue].map(([due, list]) => sql`when ${inList(sql.ref('c.time_zone'), list)} then cast(${due} as bigint)`);
  return sql<number>`(case ${sql.join(whens, sql` `)} else cast(${fallback} as bigint) end)`;
}

/**
 * When the `from` messages of a run are requeued by a restart of a campaign with a local
 * send time: a message whose local time is still ahead keeps it; one whose time passed
 * while the campaign was stopped waits for its recipient's next local send time from now,
 * the rule a launch applies to a zone whose time has passed (docs/time.md). As an SQL
 * expression for the `update messages` that requeues them, one contact probe per row.
 */
export async function requeueDueSql(
  db: Kysely<Database>,
  args: DueArgs & { runId: number; from: string },
): Promise<RawBuilder<number>> {
  const zones = await db
    .selectFrom('messages')
    .innerJoin('contacts as c', 'c.id', 'messages.contact_id')
    .select('c.time_zone')
    .distinct()
    .where('messages.run_id', '=', args.runId)
    .where('messages.state', '=', args.from as never)
    .where('c.time_zone', 'is not', null)
    .execute();
  const due = dueByZone(
    zones.map((z) => z.time_zone),
    args,
  );
  const now = args.launch.getTime();
  return sql<number>`case when next_attempt_at > ${now} then next_attempt_at
    else coalesce((select ${due} from contacts c where c.id = messages.contact_id), ${now}) end`;
}
