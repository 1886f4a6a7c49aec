import type { Kysely, Transaction } from 'kysely';
import {
  type PacingState,
  type RateRule,
  blockUntil as blockState,
  emptyPacingState,
  parsePacingState,
  settle as settleState,
  takeAcross,
} from '../domain/pacing.js';
import { dialectOf } from './dialect.js';
import type { Database } from './schema.js';

/** The `rate_limits` table (migration 0003): one limiter state per workspace and key. */
export interface RateLimitTable {
  workspace_id: string;
  /** What is limited: `sender:<id>`, `provider:<adapter name>`. */
  key: string;
  /** JSON of PacingState. */
  state: string;
  updated_at: string;
}

type RateLimitDb = Database & { rate_limits: RateLimitTable };

export interface RateLimitKey {
  readonly workspaceId: string;
  readonly key: string;
}

/** A key and its rule; null when only a provider's pause applies to it. */
export interface LimitedKey extends RateLimitKey {
  readonly rule: RateRule | null;
}

export interface TokenGrant {
  /** Messages that may be sent now, 0..want. */
  readonly granted: number;
  /** When to ask again for the rest; null when all that was wanted was granted. */
  readonly retryAt: Date | null;
}

const idOf = (k: RateLimitKey) => JSON.stringify([k.workspaceId, k.key]);

/** The distinct keys in one order, so two callers lock overlapping keys alike and never deadlock. */
function ordered<K extends RateLimitKey>(keys: readonly K[]): K[] {
  const byId = new Map(keys.map((k) => [idOf(k), k]));
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, k]) => k);
}

/**
 * Reads the states of the keys for update, creating missing ones. The insert comes first:
 * on SQLite it takes the write lock before the read, so a second process cannot read the
 * same state in between (a read-then-write transaction would fail with SQLITE_BUSY rather
 * than wait); on PostgreSQL `FOR UPDATE` holds each row until commit, and the rows are
 * locked in key order.
 */
async function lockStates(trx: Transaction<RateLimitDb>, keys: readonly RateLimitKey[], now: Date): Promise<Map<string, PacingState>> {
  const empty = JSON.stringify(emptyPacingState);
  await trx
    .insertInto('rate_limits')
    .values(keys.map((k) => ({ workspace_id: k.workspaceId, key: k.key, state: empty, updated_at: now.toISOString() })))
    .onConflict((oc) => oc.columns(['workspace_id', 'key']).doNothing())
    .execute();
  let query = trx
    .selectFrom('rate_limits')
    .select(['workspace_id', 'key', 'state'])
    .where((eb) => eb.or(keys.map((k) => eb.and([eb('workspace_id', '=', k.workspaceId), eb('key', '=', k.key)]))))
    .orderBy('workspace_id')
    .orderBy('key');
  if (dialectOf(trx) === 'postgres') query = query.forUpdate();
  const rows = await query.execute();
  return new Map(rows.map((r) => [idOf({ workspaceId: r.workspace_id, key: r.key }), parsePacingState(r.state)]));
}

async function saveState(trx: Transaction<RateLimitDb>, k: RateLimitKey, state: PacingState, now: Date): Promise<void> {
  await trx
    .updateTable('rate_limits')
    .set({ state: JSON.stringify(state), updated_at: now.toISOString() })
    .where('workspace_id', '=', k.workspaceId)
    .where('key', '=', k.key)
    .execute();
}

/**
 * Takes up to `want` messages from every key at once, in one transaction: the grant is the
 * smallest allowance, and each key is charged only that. Concurrent callers, in any number
 * of processes, never grant more than a limit between them.
 *
 * @example await takeTokensAcross(db, { limits: [{ workspaceId, key: 'sender:snd_1', rule: { perSecond: 10 } }], want: 50, now })
 */
export async function takeTokensAcross(
  db: Kysely<Database>,
  args: { limits: readonly LimitedKey[]; want: number; now: Date },
): Promise<TokenGrant> {
  const limits = ordered(args.limits);
  if (limits.length === 0) return { granted: Math.max(0, Math.floor(args.want)), retryAt: null };
  return db
    .withTables<{ rate_limits: RateLimitTable }>()
    .transaction()
    .execute(async (trx) => {
      const states = await lockStates(trx, limits, args.now);
      const before = limits.map((k) => states.get(idOf(k)) ?? emptyPacingState);
      const result = takeAcross(
        limits.map((k, i) => ({ rule: k.rule, state: before[i]! })),
        args.now.getTime(),
        args.want,
      );
      // A refusal changes nothing worth a write: what it pruned, the next grant prunes again.
      if (result.granted > 0) for (const [i, k] of limits.entries()) await saveState(trx, k, result.states[i]!, args.now);
      return { granted: result.granted, retryAt: result.retryAt === null ? null : new Date(result.retryAt) };
    });
}

/**
 * Takes up to `want` messages from one key (see takeTokensAcross).
 *
 * @example const { granted, retryAt } = await takeTokens(db, { workspaceId, key: 'provider:smtp', rule: { perSecond: 100 }, want: 50, now })
 */
export async function takeTokens(
  db: Kysely<Database>,
  args: { workspaceId: string; key: string; rule: RateRule | null; want: number; now: Date },
): Promise<TokenGrant> {
  return takeTokensAcross(db, {
    limits: [{ workspaceId: args.workspaceId, key: args.key, rule: args.rule }],
    want: args.want,
    now: args.now,
  });
}

/**
 * Settles a grant made at `grantedAt` once its batch was answered at `answeredAt`: the unsent part
 * goes back, the sent part counts from the answer (domain/pacing.ts `settle`).
 */
export async function settleTokens(
  db: Kysely<Database>,
  args: { keys: readonly RateLimitKey[]; grantedAt: Date; granted: number; sent: number; answeredAt: Date; now: Date },
): Promise<void> {
  const keys = ordered(args.keys);
  if (keys.length === 0 || args.granted <= 0) return;
  const sent = Math.min(args.sent, args.granted);
  await updateStates(db, keys, args.now, (state) =>
    settleState(state, args.grantedAt.getTime(), args.granted, sent, args.answeredAt.getTime()),
  );
}

/** Changes the states of `keys` (in lock order) in one transaction, each locked while it changes. */
async function updateStates(
  db: Kysely<Database>,
  keys: readonly RateLimitKey[],
  now: Date,
  change: (state: PacingState) => PacingState,
): Promise<void> {
  await db
    .withTables<{ rate_limits: RateLimitTable }>()
    .transaction()
    .execute(async (trx) => {
      const states = await lockStates(trx, keys, now);
      for (const k of keys) await saveState(trx, k, change(states.get(idOf(k)) ?? emptyPacingState), now);
    });
}

/**
 * Pauses a key until `until` (a provider's 429 / Retry-After): no message of it goes before
 * then, in any process. A pause already longer stays.
 */
export async function blockUntil(db: Kysely<Database>, args: { workspaceId: string; key: string; until: Date; now?: Date }): Promise<void> {
  const now = args.now ?? new Date();
  await updateStates(db, [{ workspaceId: args.workspaceId, key: args.key }], now, (state) => blockState(state, args.until.getTime()));
}

/** The stored state of a key, if it was ever used (for status pages and tests). */
export async function readRateLimit(db: Kysely<Database>, workspaceId: string, key: string): Promise<PacingState | undefined> {
  const row = await db
    .withTables<{ rate_limits: RateLimitTable }>()
    .selectFrom('rate_limits')
    .select('state')
    .where('workspace_id', '=', workspaceId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row ? parsePacingState(row.state) : undefined;
}
