import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Audience } from '../domain/campaign.js';
import type { Channel } from '../domain/lifecycle.js';
import { audienceConflicts } from '../domain/preflight.js';
import { addressOf, chainAddress, chainColumns, chainSuppressed, suppressedAddress } from './addresses.js';
import { type AudienceParts, audienceParts, audienceWhere } from './audience.js';
import { dialectOf } from './dialect.js';
import type { Database } from './schema.js';

/** What a campaign's audience holds for its channel, counted before launch. */
export interface AudienceCounts {
  /** Contacts the audience rules select. */
  readonly selected: number;
  /** Of those, contacts with an address for the channel. */
  readonly addressed: number;
  /** Of those, contacts whose address is not suppressed: the messages a launch would send. */
  readonly deliverable: number;
}

/**
 * The audience's contacts with their address, as a derived table `a (id, email, phone, address)`,
 * and whether that address is suppressed. With fallback channels (`chain`, the campaign's own
 * first) the address is the first of the chain's the contact has, as the snapshot takes it.
 */
function addressed(db: Kysely<Database>, workspaceId: string, chain: readonly Channel[], where: RawBuilder<boolean>) {
  if (chain.length === 1)
    return {
      table: sql`(
        select c.id, c.email, c.phone, ${addressOf(chain[0]!, dialectOf(db))} as address
        from contacts c
        where c.workspace_id = ${workspaceId} and ${where}
      ) a`,
      suppressed: suppressedAddress(chain[0]!, workspaceId, sql.ref('a.address')),
    };
  return {
    table: sql`(
      select x.id, x.email, x.phone, ${chainAddress(chain, 'x')} as address, ${chainSuppressed(chain, workspaceId, 'x')} as suppressed
      from (
        select c.id, c.email, c.phone, ${chainColumns(chain, dialectOf(db))}
        from contacts c
        where c.workspace_id = ${workspaceId} and ${where}
      ) x
    ) a`,
    suppressed: sql<boolean>`a.suppressed`,
  };
}

/**
 * Counts an audience (a predicate over `contacts as c`, see store/audience.ts) in one
 * statement: selected, with an address, and not suppressed. One pass over the workspace's
 * contacts with the same predicates the snapshot uses, so it agrees with what a launch
 * writes and is as fast: nothing is loaded into Node.
 */
export async function countAudience(
  db: Kysely<Database>,
  args: { workspaceId: string; channel: Channel; where: RawBuilder<boolean>; fallback?: readonly Channel[] },
): Promise<AudienceCounts> {
  const a = addressed(db, args.workspaceId, [args.channel, ...(args.fallback ?? [])], args.where);
  const { rows } = await sql<{ selected: number; addressed: number; deliverable: number | null }>`
    select count(*) as selected, count(a.address) as addressed,
           sum(case when a.address is not null and not ${a.suppressed} then 1 else 0 end) as deliverable
    from ${a.table}
  `.execute(db);
  const row = rows[0];
  return { selected: Number(row?.selected ?? 0), addressed: Number(row?.addressed ?? 0), deliverable: Number(row?.deliverable ?? 0) };
}

/** The first few contacts (by id) a launch would message now: addressed and not suppressed. */
export async function sampleAudience(
  db: Kysely<Database>,
  args: { workspaceId: string; channel: Channel; where: RawBuilder<boolean>; limit: number; fallback?: readonly Channel[] },
): Promise<{ id: number; email: string | null; phone: string | null; address: string }[]> {
  if (args.limit === 0) return [];
  const a = addressed(db, args.workspaceId, [args.channel, ...(args.fallback ?? [])], args.where);
  const { rows } = await sql<{ id: number; email: string | null; phone: string | null; address: string }>`
    select a.id, a.email, a.phone, a.address
    from ${a.table}
    where a.address is not null and not ${a.suppressed}
    order by a.id
    limit ${args.limit}
  `.execute(db);
  return rows.map((r) => ({ id: Number(r.id), email: r.email, phone: r.phone, address: r.address }));
}

/** How many contacts of the workspace a predicate selects, addresses aside. */
export async function countContacts(db: Kysely<Database>, workspaceId: string, where: RawBuilder<boolean>): Promise<number> {
  const row = await db
    .selectFrom('contacts as c')
    .select(sql<number>`count(*)`.as('n'))
    .where('c.workspace_id', '=', workspaceId)
    .where(where)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The audience facts preflight and the estimate need, gathered with a handful of counts. */
export interface AudienceFacts {
  readonly parts: AudienceParts;
  /** Null when no list of the campaign is live (nothing to count). */
  readonly counts: AudienceCounts | null;
  /** Contacts before the exclude segments, counted only when the exclusions left nobody. */
  readonly beforeExclusions: number | null;
  /** Include segments that select nobody on the campaign's lists. */
  readonly emptySegments: string[];
  /** Conflicts in the rules themselves (see domain/preflight.ts `audienceConflicts`). */
  readonly conflicts: string[];
}

/**
 * Compiles a campaign's audience and counts it for its channel. Every count is one
 * statement over the compiled predicates; on a million contacts each is one pass over the
 * workspace's contacts: the audience itself, each include segment on the lists (for
 * SEGMENT_EMPTY), and the audience before exclusions only when the exclusions left nobody.
 */
export async function audienceFacts(
  db: Kysely<Database>,
  args: {
    workspaceId: string;
    channel: Channel;
    /** The campaign's fallback channels, in order: a contact counts as addressed when any channel reaches it. */
    fallback?: readonly Channel[];
    audience: Audience;
    liveListIds: readonly string[];
    now: Date;
    timeZone: string;
    /** false: count the audience only, without the counts that explain an empty one (the estimate). */
    explain?: boolean;
  },
): Promise<AudienceFacts> {
  const { workspaceId, audience } = args;
  const parts = await audienceParts(db, { workspaceId, audience, now: args.now, timeZone: args.timeZone });
  const conflicts = audienceConflicts(audience, parts.rules);
  if (args.liveListIds.length === 0) return { parts, counts: null, beforeExclusions: null, emptySegments: [], conflicts };

  const counts = await countAudience(db, {
    workspaceId,
    channel: args.channel,
    where: audienceWhere(parts),
    ...(args.fallback ? { fallback: args.fallback } : {}),
  });
  if (args.explain === false) return { parts, counts, beforeExclusions: null, emptySegments: [], conflicts };
  const hasExclusions = (audience.excludeSegmentIds ?? []).length > 0;
  const beforeExclusions =
    hasExclusions && counts.selected === 0
      ? await countContacts(db, workspaceId, sql<boolean>`(${parts.lists} and ${parts.include} and ${parts.rule})`)
      : null;
  const emptySegments: string[] = [];
  for (const inc of parts.includes) {
    if (parts.missingSegments.includes(inc.id)) continue;
    if ((await countContacts(db, workspaceId, sql<boolean>`(${parts.lists} and ${inc.where})`)) === 0) emptySegments.push(inc.id);
  }
  return { parts, counts, beforeExclusions, emptySegments, conflicts };
}
