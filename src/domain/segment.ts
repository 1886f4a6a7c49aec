import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { type Result, assertUnreachable, fail, ok } from './errors.js';
import type { MessageState } from './messages.js';

/**
 * Segments (DESIGN §5): a rule tree of conditions on a contact, joined with and / or /
 * not. One tree has two readers that must agree exactly: `evaluate` below (pure, one
 * contact in memory) and `compileSegment` in `store/segment-sql.ts` (one SQL predicate
 * over every contact of a workspace, on SQLite and PostgreSQL). The property tests in
 * `test/store/segment-sql.test.ts` check that they select the same contacts. So every
 * rule here is one that both SQL dialects can express without a special case:
 *
 * - Two-valued logic. Every condition is true or false, never unknown: a missing
 *   attribute fails `eq`, `gt`, `contains`…, and `neq` is exactly `not eq` (so it matches
 *   contacts without the attribute; add `exists` to exclude them).
 * - Types do not cross. A string value matches only string attributes, a number only
 *   numbers, a boolean only booleans: `{ op: 'eq', value: 5 }` does not match "5".
 * - Strings compare case-sensitively by Unicode code point (SQLite's BINARY collation,
 *   PostgreSQL's "C"), not by the rules of a language.
 * - Dates are strings that start with an ISO date, `YYYY-MM-DD…`; the first ten
 *   characters are the date, compared as text (which orders ISO dates). Anything else
 *   (a number, "next week") satisfies no date condition.
 * - "Today" for a contact is the calendar date in their time zone (`time_zone`), or in the
 *   workspace's zone when theirs is empty or not a zone this runtime knows.
 *
 * A tree is either
 *   `{ and: [node, …] }`, `{ or: [node, …] }`, `{ not: node }`,
 *   `{ attribute, op, value? }`   attribute: email | phone | firstName | lastName | timeZone
 *                                 | `attributes.<key>` (a custom attribute, any key),
 *   `{ date, op, days?, value? }` date: `attributes.<key>` holding an ISO date,
 *   `{ list: listId }`, `{ tag: name }`, `{ campaign: campaignId, event }`.
 * For example, "birthday today, tagged vip, and did not open the spring campaign":
 *   { and: [{ date: 'attributes.birthday', op: 'anniversary_in', days: 0 },
 *           { tag: 'vip' },
 *           { not: { campaign: 'cmp_spring', event: 'opened' } }] }
 */

/** Bounds on a tree, so one request cannot make a statement of unbounded size. */
export const segmentLimits = Object.freeze({
  depth: 10,
  nodes: 200,
  inValues: 1000,
  keyLength: 100,
  textLength: 1000,
  withinDays: 36_500,
  anniversaryDays: 366,
});

export const builtInAttributes = ['email', 'phone', 'firstName', 'lastName', 'timeZone'] as const;
export type BuiltInAttribute = (typeof builtInAttributes)[number];
/** Custom attributes are named `attributes.<key>`: the key is everything after the first dot. */
export const customPrefix = 'attributes.';

const attributeNames = 'email, phone, firstName, lastName, timeZone, or attributes.<key> with a key of 1 to 100 characters';
const AttributeName = Type.String({
  pattern: '^(email|phone|firstName|lastName|timeZone|attributes\\.[\\s\\S]{1,100})$',
  description: attributeNames,
});
const DateField = Type.String({
  pattern: '^attributes\\.[\\s\\S]{1,100}$',
  description: 'attributes.<key>: a custom attribute holding an ISO date such as 1990-02-28',
});
const Text = Type.String({ maxLength: segmentLimits.textLength });
const NonEmptyText = Type.String({ minLength: 1, maxLength: segmentLimits.textLength, description: 'a string of 1 to 1000 characters' });
const Name = (what: string) =>
  Type.String({ minLength: 1, maxLength: segmentLimits.keyLength, description: `${what} of 1 to 100 characters` });
const strict = { additionalProperties: false } as const;

const EqualityCondition = Type.Object(
  {
    attribute: AttributeName,
    op: Type.Union([Type.Literal('eq'), Type.Literal('neq')]),
    value: Type.Union([Text, Type.Number(), Type.Boolean()], { description: 'a string, a number or a boolean' }),
  },
  strict,
);
const TextCondition = Type.Object(
  { attribute: AttributeName, op: Type.Union([Type.Literal('contains'), Type.Literal('starts_with')]), value: NonEmptyText },
  strict,
);
const InCondition = Type.Object(
  {
    attribute: AttributeName,
    op: Type.Literal('in'),
    value: Type.Array(Type.Union([Text, Type.Number()], { description: 'a string or a number' }), {
      minItems: 1,
      maxItems: segmentLimits.inValues,
      description: 'a list of 1 to 1000 strings or numbers',
    }),
  },
  strict,
);
const OrderCondition = Type.Object(
  {
    attribute: AttributeName,
    op: Type.Union([Type.Literal('gt'), Type.Literal('gte'), Type.Literal('lt'), Type.Literal('lte')]),
    value: Type.Union([Text, Type.Number()], { description: 'a string or a number' }),
  },
  strict,
);
const BetweenCondition = Type.Object(
  {
    attribute: AttributeName,
    op: Type.Literal('between'),
    value: Type.Union([Type.Tuple([Type.Number(), Type.Number()]), Type.Tuple([Text, Text])], {
      description: '[low, high]: two numbers or two strings, both ends included',
    }),
  },
  strict,
);
const PresenceCondition = Type.Object(
  { attribute: AttributeName, op: Type.Union([Type.Literal('exists'), Type.Literal('missing')]) },
  strict,
);

/** A condition on a built-in field or a custom attribute. */
export const AttributeCondition = Type.Union([
  EqualityCondition,
  TextCondition,
  InCondition,
  OrderCondition,
  BetweenCondition,
  PresenceCondition,
]);
export type AttributeCondition = Static<typeof AttributeCondition>;
export type AttributeOp = AttributeCondition['op'];

const WithinCondition = Type.Object(
  {
    date: DateField,
    op: Type.Union([Type.Literal('within_last'), Type.Literal('within_next')]),
    days: Type.Integer({ minimum: 0, maximum: segmentLimits.withinDays, description: 'a whole number of days, 0 to 36500' }),
  },
  strict,
);
const AnniversaryCondition = Type.Object(
  {
    date: DateField,
    op: Type.Literal('anniversary_in'),
    days: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: segmentLimits.anniversaryDays,
        description: 'a whole number of days, 0 (today, the default) to 366',
      }),
    ),
  },
  strict,
);
const IsoDate = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'a date, YYYY-MM-DD' });
const CutoffCondition = Type.Object(
  { date: DateField, op: Type.Union([Type.Literal('before'), Type.Literal('after')]), value: IsoDate },
  strict,
);

/**
 * A condition on a date held in a custom attribute (`attributes.birthday`,
 * `attributes.renewalDate`). `within_last N`: from N days before today to today;
 * `within_next N`: from today to N days after; `anniversary_in N`: the month and day fall
 * N days from today, whatever the year (birthdays; 0 is today); `before` / `after` a
 * date, excluding it. Today is the contact's own date (see the top of the file).
 */
export const DateCondition = Type.Union([WithinCondition, AnniversaryCondition, CutoffCondition]);
export type DateCondition = Static<typeof DateCondition>;
export type DateOp = DateCondition['op'];
/** Date conditions whose meaning depends on today's date, hence on `now` and the contact's zone. */
export type RelativeDateCondition = Extract<DateCondition, { op: 'within_last' | 'within_next' | 'anniversary_in' }>;

/** Membership of a list that is not deleted. */
export const ListCondition = Type.Object({ list: Name('a list id') }, strict);
export type ListCondition = Static<typeof ListCondition>;

/** A tag: true when the contact's tags (the `tags` column, an array of strings) hold the string exactly. */
export const TagCondition = Type.Object({ tag: Name('a tag') }, strict);
export type TagCondition = Static<typeof TagCondition>;

export const campaignEvents = ['received', 'opened', 'clicked', 'not_received', 'not_opened'] as const;
export type CampaignEvent = (typeof campaignEvents)[number];

/**
 * What happened to the contact's messages of a campaign, over all its runs. `received`:
 * one was handed to the provider and did not bounce; `opened`: one was opened or clicked
 * (a click implies an open); `clicked`; `not_received` is exactly `not received`;
 * `not_opened` means received but not opened, the usual "resend to non-openers" (for
 * "never opened, whether sent or not", use `{ not: { campaign, event: 'opened' } }`).
 */
export const CampaignCondition = Type.Object(
  { campaign: Name('a campaign id'), event: Type.Union(campaignEvents.map((e) => Type.Literal(e))) },
  strict,
);
export type CampaignCondition = Static<typeof CampaignCondition>;

/** The message states that make each positive campaign event true. */
export const campaignEventStates: Readonly<Record<'received' | 'opened' | 'clicked', readonly MessageState[]>> = Object.freeze({
  received: ['sent', 'delivered', 'opened', 'clicked', 'complained', 'unsubscribed'],
  opened: ['opened', 'clicked'],
  clicked: ['clicked'],
});

/**
 * A segment's rule tree (see the top of the file), for OpenAPI and the types. To check
 * one from a request, declare the rule as unknown in the route schema and call
 * `validateSegment`: it names the bad node, where a schema validator's errors for this
 * union list every alternative the node failed.
 */
export const Segment = Type.Recursive(
  (Node) =>
    Type.Union([
      Type.Object({ and: Type.Array(Node, { minItems: 1, maxItems: segmentLimits.nodes }) }, strict),
      Type.Object({ or: Type.Array(Node, { minItems: 1, maxItems: segmentLimits.nodes }) }, strict),
      Type.Object({ not: Node }, strict),
      AttributeCondition,
      DateCondition,
      ListCondition,
      TagCondition,
      CampaignCondition,
    ]),
  { $id: 'SegmentRule', description: 'A segment rule tree: and / or / not over attribute, date, list, tag and campaign conditions' },
);
export type Segment = Static<typeof Segment>;
export type SegmentCondition = AttributeCondition | DateCondition | ListCondition | TagCondition | CampaignCondition;

// ---------------------------------------------------------------------------------------
// Validation

/** One problem with a tree: `field` is the path of the bad node or value, e.g. `body/rule/and/2/value`. */
export interface SegmentIssue {
  readonly field: string;
  readonly message: string;
}

const nodeKinds = ['and', 'or', 'not', 'attribute', 'date', 'list', 'tag', 'campaign'] as const;
type NodeKind = (typeof nodeKinds)[number];

const nodeSchemas: Readonly<Record<Exclude<NodeKind, 'attribute' | 'date'>, TSchema>> = {
  and: Type.Object({ and: Type.Array(Type.Unknown(), { minItems: 1, description: 'a list of at least one rule node' }) }, strict),
  or: Type.Object({ or: Type.Array(Type.Unknown(), { minItems: 1, description: 'a list of at least one rule node' }) }, strict),
  not: Type.Object({ not: Type.Unknown() }, strict),
  list: ListCondition,
  tag: TagCondition,
  campaign: CampaignCondition,
};

const attributeSchemas: Readonly<Record<AttributeOp, TSchema>> = {
  eq: EqualityCondition,
  neq: EqualityCondition,
  contains: TextCondition,
  starts_with: TextCondition,
  in: InCondition,
  gt: OrderCondition,
  gte: OrderCondition,
  lt: OrderCondition,
  lte: OrderCondition,
  between: BetweenCondition,
  exists: PresenceCondition,
  missing: PresenceCondition,
};

const dateSchemas: Readonly<Record<DateOp, TSchema>> = {
  within_last: WithinCondition,
  within_next: WithinCondition,
  anniversary_in: AnniversaryCondition,
  before: CutoffCondition,
  after: CutoffCondition,
};

/** Issues reported at most; a tree with more is wrong enough that the first ones say what to fix. */
const maxIssues = 20;

/**
 * Checks a tree from outside (API, CLI) and names the path of every bad node, under `at`
 * (the route's name for the rule, `body/rule` by default): a 400 VALIDATION_FAILED with
 * `errors: [{ field: 'body/rule/and/2/value', message }]`.
 *
 * @example validateSegment({ and: [{ tag: 'vip' }, { attribute: 'attributes.plan', op: 'eq', value: 'pro' }] })
 */
export function validateSegment(input: unknown, at = 'body/rule'): Result<Segment> {
  const walk = { nodes: 0, issues: [] as SegmentIssue[] };
  checkNode(input, at, 1, walk);
  const first = walk.issues[0];
  if (first) return fail('VALIDATION_FAILED', `${first.field} ${first.message}`, { errors: walk.issues });
  return ok(input as Segment);
}

function checkNode(node: unknown, path: string, depth: number, walk: { nodes: number; issues: SegmentIssue[] }): void {
  const issue = (field: string, message: string) => {
    if (walk.issues.length < maxIssues) walk.issues.push({ field, message });
  };
  if (walk.issues.length >= maxIssues) return;
  walk.nodes += 1;
  if (walk.nodes > segmentLimits.nodes) {
    if (walk.nodes === segmentLimits.nodes + 1) issue(path, `is node ${walk.nodes}: a rule has at most ${segmentLimits.nodes} nodes`);
    return;
  }
  if (depth > segmentLimits.depth) return issue(path, `is nested ${depth} levels deep: a rule nests at most ${segmentLimits.depth}`);
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return issue(path, 'must be a rule node (an object)');
  const kinds = nodeKinds.filter((k) => Object.hasOwn(node, k));
  const [kind, second] = kinds;
  if (kind === undefined) return issue(path, `must have one of ${nodeKinds.join(', ')}`);
  if (second !== undefined) return issue(path, `has both ${kind} and ${second}: a node is one condition; join conditions with and / or`);

  const record = node as Record<string, unknown>;
  const schema = schemaOf(kind, record);
  if (typeof schema === 'string') return issue(`${path}/op`, schema);
  const before = walk.issues.length;
  for (const e of schemaIssues(schema, node, path)) issue(e.field, e.message);
  if (walk.issues.length > before) return;

  switch (kind) {
    case 'and':
    case 'or':
      (record[kind] as unknown[]).forEach((child, i) => checkNode(child, `${path}/${kind}/${i}`, depth + 1, walk));
      return;
    case 'not':
      return checkNode(record.not, `${path}/not`, depth + 1, walk);
    case 'attribute':
    case 'date':
    case 'list':
    case 'tag':
    case 'campaign':
      for (const e of conditionIssues(node as SegmentCondition, path)) issue(e.field, e.message);
      return;
    default:
      return assertUnreachable(kind);
  }
}

/** The schema of a node, or why its `op` chooses none. */
function schemaOf(kind: NodeKind, node: Record<string, unknown>): TSchema | string {
  if (kind === 'attribute' || kind === 'date') {
    const schemas: Readonly<Record<string, TSchema>> = kind === 'attribute' ? attributeSchemas : dateSchemas;
    const op = node.op;
    if (typeof op === 'string' && Object.hasOwn(schemas, op)) return schemas[op] as TSchema;
    if (op === undefined) return 'is required';
    return `must be one of ${Object.keys(schemas).join(', ')}`;
  }
  return nodeSchemas[kind];
}

/** TypeBox's findings, one per path, in the words the API uses elsewhere (`is required`, `is not a known field`). */
function schemaIssues(schema: TSchema, node: unknown, path: string): SegmentIssue[] {
  const seen = new Set<string>();
  const out: SegmentIssue[] = [];
  for (const e of Value.Errors(schema, node)) {
    const field = `${path}${e.path}`;
    if (seen.has(field)) continue;
    seen.add(field);
    const description = (e.schema as { description?: unknown }).description;
    const message =
      e.type === ValueErrorType.ObjectRequiredProperty
        ? 'is required'
        : e.type === ValueErrorType.ObjectAdditionalProperties
          ? 'is not a known field'
          : typeof description === 'string'
            ? `must be ${description}`
            : e.message.replace(/^Expected/, 'must be');
    out.push({ field, message });
  }
  return out;
}

/** What the schema cannot say: built-in fields hold text, between is ordered, dates exist, strings are storable. */
function conditionIssues(node: SegmentCondition, path: string): SegmentIssue[] {
  const out: SegmentIssue[] = [];
  const storable = (value: unknown, field: string) => {
    // PostgreSQL cannot store NUL in text, and a lone surrogate has no UTF-8 form.
    if (typeof value === 'string' && (value.includes('\u0000') || /\p{Surrogate}/u.test(value)))
      out.push({ field, message: 'must not contain NUL characters or unpaired surrogates' });
  };
  if ('attribute' in node) {
    storable(node.attribute, `${path}/attribute`);
    const builtIn = !node.attribute.startsWith(customPrefix);
    const value: unknown = 'value' in node ? node.value : undefined;
    const values: readonly unknown[] = Array.isArray(value) ? value : value === undefined ? [] : [value];
    const where = (i: number) => (Array.isArray(value) ? `${path}/value/${i}` : `${path}/value`);
    values.forEach((v, i) => {
      storable(v, where(i));
      if (builtIn && typeof v !== 'string') out.push({ field: where(i), message: `must be a string: ${node.attribute} holds text` });
    });
    if (node.op === 'between') {
      const [low, high] = node.value;
      const reversed = typeof low === 'number' ? low > (high as number) : compareText(low, high as string) > 0;
      if (reversed) out.push({ field: `${path}/value`, message: 'must be [low, high] with low ≤ high' });
    }
  } else if ('date' in node) {
    storable(node.date, `${path}/date`);
    if ((node.op === 'before' || node.op === 'after') && !isCalendarDate(node.value))
      out.push({ field: `${path}/value`, message: 'must be a real calendar date, YYYY-MM-DD' });
  } else if ('list' in node) {
    storable(node.list, `${path}/list`);
  } else if ('tag' in node) {
    storable(node.tag, `${path}/tag`);
  } else {
    storable(node.campaign, `${path}/campaign`);
  }
  return out;
}

function isCalendarDate(value: string): boolean {
  const [y, m, d] = value.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

// ---------------------------------------------------------------------------------------
// Text, dates and time zones, shared with the SQL compiler so both compute them alike

/**
 * Orders strings by Unicode code point, as SQLite's BINARY collation and PostgreSQL's "C"
 * do (both compare UTF-8 bytes). JavaScript's `<` compares UTF-16 units, which puts
 * U+E000–U+FFFF after the astral planes; shifting the units fixes that.
 */
export function compareText(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

const codePointRank = (unit: number) => (unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit);

const isoDatePrefix = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/;

/** The date an attribute value holds: the first ten characters of a string starting `YYYY-MM-DD`, else null. */
export function datePart(value: unknown): string | null {
  return typeof value === 'string' && isoDatePrefix.test(value) ? value.slice(0, 10) : null;
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();

/** A formatter of calendar dates in the zone, or null when this runtime does not know the zone. */
function dateFormatter(zone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(zone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', calendar: 'gregory' });
    } catch {
      f = null;
    }
    // Zones come from contact data: a bounded cache, so junk values cannot grow it forever.
    if (formatters.size >= 2000) formatters.clear();
    formatters.set(zone, f);
  }
  return f;
}

/** Whether the runtime knows the IANA zone (Intl accepts it; names are case-insensitive, aliases work). */
export function isKnownZone(zone: string | null | undefined): zone is string {
  return typeof zone === 'string' && zone !== '' && dateFormatter(zone) !== null;
}

/** The zone a contact's dates are read in: theirs if known, else the workspace's, else UTC. */
export function effectiveZone(contactZone: string | null | undefined, workspaceZone: string): string {
  if (isKnownZone(contactZone)) return contactZone;
  return isKnownZone(workspaceZone) ? workspaceZone : 'UTC';
}

/** The calendar date (`YYYY-MM-DD`) at `now` in a known zone, DST included (Intl does the conversion). */
export function localDate(now: Date, zone: string): string {
  const f = dateFormatter(zone);
  if (!f) throw new RangeError(`Unknown time zone: ${zone}`);
  const parts = Object.fromEntries(f.formatToParts(now).map((p) => [p.type, p.value]));
  return `${String(parts.year).padStart(4, '0')}-${parts.month}-${parts.day}`;
}

/** `YYYY-MM-DD` plus n days (n may be negative). */
export function addDays(date: string, n: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d + n);
  return t.toISOString().slice(0, 10);
}

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/**
 * The two strings a relative date condition compares with, for a contact whose today is
 * `today`. `within_*`: the first and last date of the window, both included.
 * `anniversary_in`: the month-days (`MM-DD`) that match: that of today + N days, and also
 * `02-29` when that day is 28 February of a year without a 29th, so people born on
 * 29 February celebrate on the 28th in common years (and on the 29th in leap years).
 */
export function relativeBounds(condition: RelativeDateCondition, today: string): readonly [string, string] {
  switch (condition.op) {
    case 'within_last':
      return [addDays(today, -condition.days), today];
    case 'within_next':
      return [today, addDays(today, condition.days)];
    case 'anniversary_in': {
      const day = addDays(today, condition.days ?? 0);
      const monthDay = day.slice(5);
      const leap = isLeapYear(Number(day.slice(0, 4)));
      return [monthDay, monthDay === '02-28' && !leap ? '02-29' : monthDay];
    }
    default:
      return assertUnreachable(condition);
  }
}

/** Whether a date condition depends on today (and so on `now` and time zones). */
export function isRelativeDate(condition: DateCondition): condition is RelativeDateCondition {
  return condition.op === 'within_last' || condition.op === 'within_next' || condition.op === 'anniversary_in';
}

// ---------------------------------------------------------------------------------------
// The in-memory evaluator

/** The contact fields a tree reads (the API's `Contact` has them all). */
export interface SegmentContact {
  readonly email: string | null;
  readonly phone: string | null;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly timeZone: string | null;
  readonly tags: readonly string[];
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** What the database knows about one contact beyond its row. */
export interface SegmentFacts {
  /** Lists the contact belongs to that are not deleted. */
  readonly lists: ReadonlySet<string>;
  /** Campaign id → the states of the contact's messages over all that campaign's runs. */
  readonly messages: ReadonlyMap<string, readonly string[]>;
}

/**
 * Whether the contact is in the segment at `now`; `timeZone` is the workspace's, used
 * when the contact has none. Pure: the reference the SQL compiler is tested against.
 *
 * @example evaluate({ tag: 'vip' }, contact, { lists: new Set(), messages: new Map() }, new Date(), 'Europe/Paris')
 */
export function evaluate(tree: Segment, contact: SegmentContact, facts: SegmentFacts, now: Date, timeZone: string): boolean {
  if ('and' in tree) return tree.and.every((n) => evaluate(n, contact, facts, now, timeZone));
  if ('or' in tree) return tree.or.some((n) => evaluate(n, contact, facts, now, timeZone));
  if ('not' in tree) return !evaluate(tree.not, contact, facts, now, timeZone);
  if ('attribute' in tree) return attributeHolds(tree, attributeValue(contact, tree.attribute));
  if ('date' in tree)
    return dateHolds(tree, datePart(attributeValue(contact, tree.date)), () => localDate(now, effectiveZone(contact.timeZone, timeZone)));
  if ('list' in tree) return facts.lists.has(tree.list);
  if ('tag' in tree) return contact.tags.includes(tree.tag);
  const states = facts.messages.get(tree.campaign) ?? [];
  const any = (event: keyof typeof campaignEventStates) =>
    states.some((s) => (campaignEventStates[event] as readonly string[]).includes(s));
  switch (tree.event) {
    case 'received':
    case 'opened':
    case 'clicked':
      return any(tree.event);
    case 'not_received':
      return !any('received');
    case 'not_opened':
      return any('received') && !any('opened');
    default:
      return assertUnreachable(tree.event);
  }
}

/** A field's value, or undefined when absent or null (the two are the same to every condition). */
function attributeValue(contact: SegmentContact, name: string): unknown {
  if (name.startsWith(customPrefix)) {
    const key = name.slice(customPrefix.length);
    return Object.hasOwn(contact.attributes, key) ? (contact.attributes[key] ?? undefined) : undefined;
  }
  return contact[name as BuiltInAttribute] ?? undefined;
}

function attributeHolds(condition: AttributeCondition, actual: unknown): boolean {
  switch (condition.op) {
    case 'eq':
      return same(actual, condition.value);
    case 'neq':
      return !same(actual, condition.value);
    case 'contains':
      return typeof actual === 'string' && actual.includes(condition.value);
    case 'starts_with':
      return typeof actual === 'string' && actual.startsWith(condition.value);
    case 'in':
      return condition.value.some((v) => same(actual, v));
    case 'gt':
      return order(actual, condition.value) > 0;
    case 'gte':
      return order(actual, condition.value) >= 0;
    case 'lt':
      return order(actual, condition.value) < 0;
    case 'lte':
      return order(actual, condition.value) <= 0;
    case 'between':
      return order(actual, condition.value[0]) >= 0 && order(actual, condition.value[1]) <= 0;
    case 'exists':
      return actual !== undefined;
    case 'missing':
      return actual === undefined;
    default:
      return assertUnreachable(condition);
  }
}

/** `today` is asked for only by conditions relative to it. */
function dateHolds(condition: DateCondition, date: string | null, today: () => string): boolean {
  if (date === null) return false;
  switch (condition.op) {
    case 'before':
      return date < condition.value;
    case 'after':
      return date > condition.value;
    case 'within_last':
    case 'within_next': {
      const [first, last] = relativeBounds(condition, today());
      return first <= date && date <= last;
    }
    case 'anniversary_in':
      return relativeBounds(condition, today()).includes(date.slice(5));
    default:
      return assertUnreachable(condition);
  }
}

const same = (actual: unknown, value: string | number | boolean) => typeof actual === typeof value && actual === value;

/** actual's order against value when both are numbers or both strings; NaN (every comparison false) otherwise. */
function order(actual: unknown, value: string | number): number {
  if (typeof value === 'number') return typeof actual === 'number' ? Math.sign(actual - value) : NaN;
  return typeof actual === 'string' ? compareText(actual, value) : NaN;
}
