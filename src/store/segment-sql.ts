import { type Kysely, type RawBuilder, sql } from 'kysely';
import { assertUnreachable } from '../domain/errors.js';
import {
  type AttributeCondition,
  type BuiltInAttribute,
  type CampaignCondition,
  type DateCondition,
  type RelativeDateCondition,
  type Segment,
  campaignEventStates,
  customPrefix,
  effectiveZone,
  isKnownZone,
  isRelativeDate,
  localDate,
  relativeBounds,
} from '../domain/segment.js';
import { dialectOf } from './dialect.js';
import type { Database } from './schema.js';

/**
 * The segment compiler: one rule tree → one SQL predicate over `contacts as c`, meaning
 * exactly what `evaluate` in `domain/segment.ts` means (the property tests hold the two
 * together on both dialects). Use it as the `where` of a query on `contacts as c`:
 *
 *   const inSegment = await compileSegment(db, tree, { workspaceId, now, defaultTimeZone });
 *   db.selectFrom('contacts as c').select('c.id').where('c.workspace_id', '=', workspaceId).where(inSegment)
 *
 * Safety: every value from the tree (strings, numbers, attribute keys, list and campaign
 * ids, tags) is a bound parameter; the SQL text depends only on the tree's shape and the
 * types of its values, never on their content. Column names are fixed here.
 *
 * Logic: each condition compiles to `(…) is true`, which is never NULL, so `not`, `and`
 * and `or` are plain two-valued logic, as in the evaluator (SQL's NULL would make
 * `not (email = 'x')` drop contacts without an email).
 *
 * JSON: custom attributes are read by key from `contacts.attributes` (text holding a JSON
 * object). SQLite: `json_type` / `json_extract` with a bound path `$."key"` in which `"`,
 * `\` and control characters are written as \uXXXX escapes, which SQLite (≥ 3.45)
 * decodes before matching, so any key, even `a"b` or `$.x[0]`, names itself and nothing
 * else. PostgreSQL: `c.attributes::jsonb -> $key`, no path syntax at all. Numbers compare
 * as doubles on SQLite (`cast(… as real)`: an integer above 2^53 written by JSON.stringify
 * would otherwise compare unequal to the same JavaScript number) and as numeric on
 * PostgreSQL (exact on the shortest decimal JSON.stringify writes, so the same order).
 *
 * Dates and time zones: "today" is each contact's own calendar date (their zone, else
 * the workspace's). SQLite has no time-zone database, and PostgreSQL's may differ in
 * version from Node's, so neither converts zones: the compiler computes dates in
 * JavaScript, with the same functions the evaluator uses, for the zones the workspace's
 * contacts actually have (`select distinct time_zone …`, once per compile, only when the
 * tree has a relative date condition). At any instant the world's clocks show at most
 * three calendar dates (offsets span UTC−12 to UTC+14, under 48 hours), so the zones fall
 * into at most three groups by local date, and each bound of a condition is
 *
 *   case when c.time_zone in (<zones of group 1>) then <bound for its date>
 *        when c.time_zone in (<group 2>) then … when c.time_zone in (<group 3>) then …
 *        else <bound for the workspace's date> end
 *
 * with each zone list one bound JSON array. Always three groups (some empty), so the
 * statement's text does not depend on the data; an uncorrelated `in (subquery)` is
 * evaluated once per statement on both databases (SQLite builds an index on it,
 * PostgreSQL hashes it), so the per-row cost does not grow with the number of zones.
 * The `now` that decides it all is the compile's, not the database's clock. Contacts
 * with no zone, a zone the runtime does not know, or one first stored after the compile,
 * take the workspace's date.
 */

export interface SegmentScope {
  readonly workspaceId: string;
  /** The instant "today" is taken at. */
  readonly now: Date;
  /** The workspace's time zone, for contacts without a (known) zone of their own. */
  readonly defaultTimeZone: string;
}

/**
 * Compiles a validated tree into a predicate on `contacts as c` for the workspace;
 * async because relative date conditions first read the workspace's time zones.
 *
 * @example db.selectFrom('contacts as c').select('c.id').where(await compileSegment(db, { tag: 'vip' }, scope))
 */
export async function compileSegment(db: Kysely<Database>, tree: Segment, scope: SegmentScope): Promise<RawBuilder<boolean>> {
  const flavour = dialectOf(db) === 'postgres' ? postgres : sqlite;
  const zones = usesToday(tree) ? await zoneGroups(db, scope) : null;
  return compile(tree, { flavour, scope, zones });
}

/** The date a custom attribute of `contacts as c` holds (`YYYY-MM-DD`), else NULL, in the database's dialect. */
export function dateAttributeSql(db: Kysely<Database>, key: string): RawBuilder<string | null> {
  return (dialectOf(db) === 'postgres' ? postgres : sqlite).dateOf(key) as RawBuilder<string | null>;
}

interface Context {
  readonly flavour: Flavour;
  readonly scope: SegmentScope;
  readonly zones: ZoneGroups | null;
}

function compile(node: Segment, cx: Context): RawBuilder<boolean> {
  const each = (nodes: readonly Segment[]) => nodes.map((n) => compile(n, cx));
  if ('and' in node) return sql<boolean>`(${sql.join(each(node.and), sql` and `)})`;
  if ('or' in node) return sql<boolean>`(${sql.join(each(node.or), sql` or `)})`;
  if ('not' in node) return sql<boolean>`(not ${compile(node.not, cx)})`;
  if ('attribute' in node) return attributeSql(node, cx.flavour);
  if ('date' in node) return dateSql(node, cx);
  if ('list' in node)
    return truth(sql`exists (select 1 from list_members lm join lists l on l.id = lm.list_id
      where lm.list_id = ${node.list} and lm.contact_id = c.id and l.workspace_id = ${cx.scope.workspaceId} and l.deleted_at is null)`);
  if ('tag' in node) return truth(cx.flavour.tagged(node.tag));
  return campaignSql(node, cx.scope.workspaceId);
}

/** Never NULL: true, or false for both false and unknown. */
const truth = (condition: RawBuilder<unknown>) => sql<boolean>`((${condition}) is true)`;

// ---------------------------------------------------------------------------------------
// Attribute conditions

/** Typed reads of one field: each is NULL (so the comparison is unknown, so false) when the field lacks that type. */
interface Operand {
  /** The field holds text. */
  readonly isText: RawBuilder<unknown>;
  /** Its text (meaningful where `isText`). */
  readonly text: RawBuilder<unknown>;
  /** Its number, NULL unless it holds a number. */
  readonly number: RawBuilder<unknown>;
  /** It is present and not null. */
  readonly present: RawBuilder<unknown>;
  /** It holds this boolean. */
  isBoolean(value: boolean): RawBuilder<unknown>;
}

const columns: Readonly<Record<BuiltInAttribute, string>> = {
  email: 'c.email',
  phone: 'c.phone',
  firstName: 'c.first_name',
  lastName: 'c.last_name',
  timeZone: 'c.time_zone',
};

function operandOf(name: string, f: Flavour): Operand {
  if (name.startsWith(customPrefix)) return f.attribute(name.slice(customPrefix.length));
  const column = sql.ref(columns[name as BuiltInAttribute]);
  // Built-in fields hold text; validation refuses other values for them.
  return {
    isText: sql`${column} is not null`,
    text: column,
    number: sql`null`,
    present: sql`${column} is not null`,
    isBoolean: () => sql`1 = 0`,
  };
}

const comparisons = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

function attributeSql(c: AttributeCondition, f: Flavour): RawBuilder<boolean> {
  const x = operandOf(c.attribute, f);
  const equals = (v: string | number | boolean) =>
    typeof v === 'string'
      ? sql`${x.isText} and ${x.text} = ${f.text(v)}`
      : typeof v === 'number'
        ? sql`${x.number} = ${f.number(v)}`
        : x.isBoolean(v);
  const compare = (op: keyof typeof comparisons, v: string | number) =>
    typeof v === 'string'
      ? sql`${x.isText} and ${f.ordered(x.text)} ${sql.raw(comparisons[op])} ${f.text(v)}`
      : sql`${x.number} ${sql.raw(comparisons[op])} ${f.number(v)}`;
  switch (c.op) {
    case 'eq':
      return truth(equals(c.value));
    case 'neq':
      return sql<boolean>`(not ${truth(equals(c.value))})`;
    case 'contains':
      return truth(sql`${x.isText} and ${f.contains(x.text, c.value)}`);
    case 'starts_with':
      return truth(sql`${x.isText} and ${f.startsWith(x.text, c.value)}`);
    case 'in': {
      const texts = c.value.filter((v): v is string => typeof v === 'string');
      const numbers = c.value.filter((v): v is number => typeof v === 'number');
      const parts = [
        ...(texts.length > 0 ? [sql`(${x.isText} and ${x.text} in (${f.texts(texts)}))`] : []),
        ...(numbers.length > 0 ? [sql`(${x.number} in (${f.numbers(numbers)}))`] : []),
      ];
      return truth(sql.join(parts, sql` or `));
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return truth(compare(c.op, c.value));
    case 'between':
      return truth(sql`(${compare('gte', c.value[0])}) and (${compare('lte', c.value[1])})`);
    case 'exists':
      return truth(x.present);
    case 'missing':
      return sql<boolean>`(not ${truth(x.present)})`;
    default:
      return assertUnreachable(c);
  }
}

// ---------------------------------------------------------------------------------------
// Date conditions

function dateSql(c: DateCondition, cx: Context): RawBuilder<boolean> {
  const f = cx.flavour;
  const date = f.dateOf(c.date.slice(customPrefix.length));
  switch (c.op) {
    case 'before':
      return truth(sql`${f.ordered(date)} < ${f.text(c.value)}`);
    case 'after':
      return truth(sql`${f.ordered(date)} > ${f.text(c.value)}`);
    case 'within_last':
    case 'within_next':
      return truth(sql`${f.ordered(date)} >= ${perZone(c, 0, cx)} and ${f.ordered(date)} <= ${perZone(c, 1, cx)}`);
    case 'anniversary_in':
      return truth(sql`substr(${date}, 6, 5) in (${perZone(c, 0, cx)}, ${perZone(c, 1, cx)})`);
    default:
      return assertUnreachable(c);
  }
}

/** Zones of the workspace grouped by their calendar date at `now`: always three groups, see the top of the file. */
interface ZoneGroups {
  readonly groups: readonly { readonly today: string; readonly zones: readonly string[] }[];
  /** The workspace's date, for every other contact. */
  readonly fallback: string;
}

async function zoneGroups(db: Kysely<Database>, scope: SegmentScope): Promise<ZoneGroups> {
  // One pass over the workspace's contacts; a few hundred distinct values at most in practice.
  const rows = await db
    .selectFrom('contacts')
    .select('time_zone')
    .distinct()
    .where('workspace_id', '=', scope.workspaceId)
    .where('time_zone', 'is not', null)
    .execute();
  const byDate = new Map<string, string[]>();
  for (const { time_zone: zone } of rows) {
    if (!isKnownZone(zone)) continue;
    const today = localDate(scope.now, zone);
    byDate.set(today, [...(byDate.get(today) ?? []), zone]);
  }
  if (byDate.size > 3) throw new Error(`Time zones show ${byDate.size} calendar dates at ${scope.now.toISOString()}; at most 3 exist`);
  const fallback = localDate(scope.now, effectiveZone(null, scope.defaultTimeZone));
  const groups = [...byDate].sort(([a], [b]) => (a < b ? -1 : 1)).map(([today, zones]) => ({ today, zones }));
  while (groups.length < 3) groups.push({ today: fallback, zones: [] });
  return { groups, fallback };
}

/** Bound `which` (0 or 1) of `relativeBounds` for each contact's own today, as one SQL expression. */
function perZone(c: RelativeDateCondition, which: 0 | 1, cx: Context): RawBuilder<string> {
  const { flavour: f, zones } = cx;
  if (!zones) throw new Error('compileSegment: a relative date condition was compiled without the zone groups');
  const bound = (today: string) => f.text(relativeBounds(c, today)[which]);
  const whens = zones.groups.map((g) => sql`when c.time_zone in (${f.texts(g.zones)}) then ${bound(g.today)}`);
  return sql<string>`(case ${sql.join(whens, sql` `)} else ${bound(zones.fallback)} end)`;
}

function usesToday(node: Segment): boolean {
  if ('and' in node) return node.and.some(usesToday);
  if ('or' in node) return node.or.some(usesToday);
  if ('not' in node) return usesToday(node.not);
  return 'date' in node && isRelativeDate(node);
}

// ---------------------------------------------------------------------------------------
// Message history

function campaignSql(c: CampaignCondition, workspaceId: string): RawBuilder<boolean> {
  // Over every run of the campaign; (run_id, contact_id) is the ledger's unique key, so
  // this is one index probe per run.
  const any = (event: keyof typeof campaignEventStates) =>
    truth(sql`exists (select 1 from messages mm join runs mr on mr.id = mm.run_id
      where mr.campaign_id = ${c.campaign} and mr.workspace_id = ${workspaceId} and mm.contact_id = c.id
        and mm.state in (${sql.join(campaignEventStates[event])}))`);
  switch (c.event) {
    case 'received':
    case 'opened':
    case 'clicked':
      return any(c.event);
    case 'not_received':
      return sql<boolean>`(not ${any('received')})`;
    case 'not_opened':
      return sql<boolean>`(${any('received')} and not ${any('opened')})`;
    default:
      return assertUnreachable(c.event);
  }
}

// ---------------------------------------------------------------------------------------
// The two dialects: the same operations, in each one's words

/**
 * A substring `c.tags` must contain to hold `tag`, tested before the JSON is parsed: most
 * contacts lack any one tag, and parsing every contact's tags cost ≈ 0.2 s a million in the
 * snapshot. `"tag"` as JSON writes it when no character of the tag would be escaped
 * (printable ASCII but `"` and `\`); otherwise the empty string, which every text contains,
 * leaving the exact test alone. Bound as a parameter, so the statement's text stays the same.
 */
function tagNeedle(tag: string): string {
  return /^[\x20-\x7e]*$/.test(tag) && !/["\\]/.test(tag) ? `"${tag}"` : '';
}

interface Flavour {
  /** Typed reads of the custom attribute `key` of `c.attributes`. */
  attribute(key: string): Operand;
  /** The date a custom attribute holds (its first ten characters when it is a string `YYYY-MM-DD…`), else NULL. */
  dateOf(key: string): RawBuilder<unknown>;
  /** Whether `c.tags` (a JSON array of strings, kept by the store) holds the string. */
  tagged(tag: string): RawBuilder<unknown>;
  /** Text ordered by code point. */
  ordered(text: RawBuilder<unknown>): RawBuilder<unknown>;
  contains(text: RawBuilder<unknown>, needle: string): RawBuilder<unknown>;
  startsWith(text: RawBuilder<unknown>, prefix: string): RawBuilder<unknown>;
  /** A bound string. */
  text(value: string): RawBuilder<unknown>;
  /** A bound number, typed to compare with `Operand.number`. */
  number(value: number): RawBuilder<unknown>;
  /** A subquery body yielding the strings of one bound JSON array. */
  texts(values: readonly string[]): RawBuilder<unknown>;
  /** A subquery body yielding the numbers of one bound JSON array. */
  numbers(values: readonly number[]): RawBuilder<unknown>;
}

/** A SQLite JSON path naming exactly one top-level key (see the top of the file). */
export function sqliteKeyPath(key: string): string {
  const label = key.replace(/["\\\p{Cc}]/gu, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `$."${label}"`;
}

const sqlite: Flavour = {
  attribute(key) {
    const path = sqliteKeyPath(key);
    const type = sql`json_type(c.attributes, ${path})`;
    return {
      isText: sql`${type} = 'text'`,
      text: sql`json_extract(c.attributes, ${path})`,
      number: sql`(case when ${type} in ('integer', 'real') then cast(json_extract(c.attributes, ${path}) as real) end)`,
      present: sql`${type} <> 'null'`,
      isBoolean: (value) => sql`${type} = ${value ? 'true' : 'false'}`,
    };
  },
  dateOf(key) {
    const path = sqliteKeyPath(key);
    return sql`(case when json_type(c.attributes, ${path}) = 'text'
      and json_extract(c.attributes, ${path}) glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'
      then substr(json_extract(c.attributes, ${path}), 1, 10) end)`;
  },
  tagged: (tag) =>
    sql`(instr(c.tags, ${tagNeedle(tag)}) > 0 and exists (select 1 from json_each(c.tags) t where t.type = 'text' and t.value = ${tag}))`,
  // BINARY, SQLite's default collation, compares UTF-8 bytes: code point order.
  ordered: (text) => text,
  contains: (text, needle) => sql`instr(${text}, ${needle}) > 0`,
  startsWith: (text, prefix) => sql`instr(${text}, ${prefix}) = 1`,
  text: (value) => sql`${value}`,
  number: (value) => sql`${value}`,
  texts: (values) => sql`select value from json_each(${JSON.stringify(values)})`,
  numbers: (values) => sql`select cast(value as real) from json_each(${JSON.stringify(values)})`,
};

const postgres: Flavour = {
  attribute(key) {
    const json = sql`(c.attributes::jsonb -> ${key}::text)`;
    const text = sql`(c.attributes::jsonb ->> ${key}::text)`;
    return {
      isText: sql`jsonb_typeof(${json}) = 'string'`,
      text,
      // The CASE keeps the cast from ever seeing a non-number (casts are not short-circuited otherwise).
      number: sql`(case when jsonb_typeof(${json}) = 'number' then (c.attributes::jsonb ->> ${key}::text)::numeric end)`,
      present: sql`jsonb_typeof(${json}) <> 'null'`,
      isBoolean: (value) => sql`${json} = ${value ? 'true' : 'false'}::jsonb`,
    };
  },
  dateOf(key) {
    return sql`(case when jsonb_typeof(c.attributes::jsonb -> ${key}::text) = 'string'
      and (c.attributes::jsonb ->> ${key}::text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
      then left(c.attributes::jsonb ->> ${key}::text, 10) end)`;
  },
  tagged: (tag) => sql`(strpos(c.tags, ${tagNeedle(tag)}::text) > 0 and jsonb_exists(c.tags::jsonb, ${tag}::text))`,
  // "C" compares UTF-8 bytes, code point order, whatever the database's own collation.
  ordered: (text) => sql`(${text} collate "C")`,
  contains: (text, needle) => sql`strpos(${text}, ${needle}::text) > 0`,
  startsWith: (text, prefix) => sql`strpos(${text}, ${prefix}::text) = 1`,
  text: (value) => sql`${value}::text`,
  number: (value) => sql`${value}::numeric`,
  texts: (values) => sql`select jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)`,
  numbers: (values) => sql`select n::numeric from jsonb_array_elements_text(${JSON.stringify(values)}::jsonb) n`,
};
