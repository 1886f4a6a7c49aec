import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AttributeCondition,
  type DateCondition,
  type Segment,
  type SegmentContact,
  type SegmentFacts,
  campaignEvents,
  compareText,
  evaluate,
  validateSegment,
} from '../../src/domain/segment.js';
import type { Db } from '../../src/store/database.js';
import { compileSegment, sqliteKeyPath } from '../../src/store/segment-sql.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { dialects, migratedDatabase } from '../dialects.js';

// ---------------------------------------------------------------------------------------
// A small world: one workspace, its contacts, three lists (L2 deleted), two campaigns of
// two runs each. Trees name lists and campaigns by symbol (L0, C1…); `seed` gives them ids.

interface WorldContact {
  readonly email: string | null;
  readonly phone: string | null;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly timeZone: string | null;
  /** The tags column: sorted, unique strings, as the store keeps it. */
  readonly tags: readonly string[];
  readonly attributes: Record<string, unknown>;
  readonly lists: readonly string[];
  /** Campaign symbol → the state of its message in run 1 and run 2 (null: none). */
  readonly messages: Readonly<Record<string, readonly (string | null)[]>>;
}

interface World {
  readonly zone: string;
  readonly now: Date;
  readonly contacts: readonly WorldContact[];
}

const listSymbols = ['L0', 'L1', 'L2'] as const;
const deletedList = 'L2';
const campaignSymbols = ['C0', 'C1'] as const;

interface Seeded {
  readonly workspaceId: string;
  readonly contactIds: readonly number[];
  /** A symbol's id in this workspace (unknown symbols too: they name nothing). */
  readonly idOf: (symbol: string) => string;
}

async function seed(db: Db, world: World): Promise<Seeded> {
  const at = world.now.toISOString();
  const workspaceId = (await createWorkspace(db, { name: 'Segments', timeZone: world.zone, now: world.now })).id;
  const idOf = (symbol: string) => `${workspaceId}-${symbol}`;
  await db
    .insertInto('lists')
    .values(
      listSymbols.map((s) => ({
        id: idOf(s),
        workspace_id: workspaceId,
        name: s,
        created_at: at,
        updated_at: at,
        deleted_at: s === deletedList ? at : null,
      })),
    )
    .execute();
  await db
    .insertInto('campaigns')
    .values(
      campaignSymbols.map((s) => ({
        id: idOf(s),
        workspace_id: workspaceId,
        kind: 'regular',
        channel: 'email',
        name: s,
        tags: '[]',
        status: 'completed',
        launch_type: 'now',
        audience: '{"listIds":[]}',
        pacing: '{}',
        failure_reasons: '[]',
        version: 1,
        created_at: at,
        updated_at: at,
      })),
    )
    .execute();
  const runs = new Map<string, number>();
  for (const s of campaignSymbols) {
    for (const number of [1, 2]) {
      const run = await db
        .insertInto('runs')
        .values({
          workspace_id: workspaceId,
          campaign_id: idOf(s),
          number,
          channel: 'email',
          snapshot_cursor: 0,
          snapshot_done: 1,
          created_at: at,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      runs.set(`${s}/${number}`, run.id);
    }
  }
  if (world.contacts.length === 0) return { workspaceId, contactIds: [], idOf };
  const inserted = await db
    .insertInto('contacts')
    .values(
      world.contacts.map((c) => ({
        workspace_id: workspaceId,
        email: c.email,
        phone: c.phone,
        first_name: c.firstName,
        last_name: c.lastName,
        time_zone: c.timeZone,
        tags: JSON.stringify(c.tags),
        attributes: JSON.stringify(c.attributes),
        created_at: at,
        updated_at: at,
      })),
    )
    .returning('id')
    .execute();
  // Ids are assigned in the order of the VALUES rows.
  const contactIds = inserted.map((r) => r.id).sort((a, b) => a - b);
  const members = world.contacts.flatMap((c, i) =>
    c.lists.map((s) => ({ workspace_id: workspaceId, list_id: idOf(s), contact_id: contactIds[i]!, added_at: at })),
  );
  if (members.length > 0) await db.insertInto('list_members').values(members).execute();
  const messages = world.contacts.flatMap((c, i) =>
    Object.entries(c.messages).flatMap(([s, states]) =>
      states.flatMap((state, r) =>
        state === null
          ? []
          : [
              {
                workspace_id: workspaceId,
                run_id: runs.get(`${s}/${r + 1}`)!,
                contact_id: contactIds[i]!,
                state,
                attempts: 1,
                next_attempt_at: 0,
                updated_at: at,
              },
            ],
      ),
    ),
  );
  if (messages.length > 0) await db.insertInto('messages').values(messages).execute();
  return { workspaceId, contactIds, idOf };
}

/** The contact and facts as the evaluator sees them: attributes as stored (JSON), live lists only. */
function evaluatorView(c: WorldContact, idOf: (symbol: string) => string): { contact: SegmentContact; facts: SegmentFacts } {
  return {
    contact: { ...c, attributes: JSON.parse(JSON.stringify(c.attributes)) as Record<string, unknown> },
    facts: {
      lists: new Set(c.lists.filter((s) => s !== deletedList).map(idOf)),
      messages: new Map(Object.entries(c.messages).map(([s, states]) => [idOf(s), states.filter((x): x is string => x !== null)])),
    },
  };
}

/** The tree with list and campaign symbols replaced by the workspace's ids. */
function withIds(node: Segment, idOf: (symbol: string) => string): Segment {
  if ('and' in node) return { and: node.and.map((n) => withIds(n, idOf)) };
  if ('or' in node) return { or: node.or.map((n) => withIds(n, idOf)) };
  if ('not' in node) return { not: withIds(node.not, idOf) };
  if ('list' in node) return { list: idOf(node.list) };
  if ('campaign' in node) return { ...node, campaign: idOf(node.campaign) };
  return node;
}

// ---------------------------------------------------------------------------------------
// Generators. Small pools so conditions often match; hostile strings throughout.

const hostile = [
  "'",
  "''",
  '"',
  '\\',
  ';',
  '--',
  "x'; drop table contacts; --",
  '/* */',
  '%',
  '_',
  '?',
  '$1',
  ':name',
  '$.a',
  '[0]',
  'é',
  'e\u0301',
  '😀',
  '\uFFFD',
  '\uE000',
  'Ω',
  'a\u200Db',
  '\n',
  ' ',
  'null',
  '__proto__',
  'constructor',
];
const storable = (s: string) => !s.includes('\u0000') && !/\p{Surrogate}/u.test(s);
const hostileText = fc
  .oneof(
    fc.constantFrom(...hostile),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    fc.string({
      unit: fc.constantFrom("'", '"', ';', '-', '\\', '$', '?', '%', '.', '[', ']', '\u0301', '😀', ' '),
      minLength: 1,
      maxLength: 12,
    }),
  )
  .filter(storable);

/** Mostly a few common strings, so that conditions match; sometimes anything hostile. */
const textArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('pro', 'free', 'a', 'ab') },
  { weight: 2, arbitrary: fc.constantFrom('Pro', '', 'b', '5', 'true', 'vip', ...hostile) },
);
const needleArb = fc.constantFrom('a', 'p', 'pr', 'o', 'e', '5', '1', 'tr', '{', '😀', "'", '-', ';', '\\', '%', '_', 'é', 'Ω', '\u0301');
const numberArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 5, 7, 2.5, 0.1, 0.30000000000000004, 1e21, 2 ** 60 + 1) },
  { weight: 1, arbitrary: fc.integer({ min: -10, max: 10 }) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
);
const keyArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('plan', 'score') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('flag', 'birthday', 'renewal', 'tags', "it's", 'a"b', 'a.b', 'x[0]', '$', '\\', '😀', '__proto__'),
  },
);
const tagArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('vip', 'new') },
  { weight: 1, arbitrary: fc.constantFrom('VIP', "o'k", '😀', '--') },
);
const zones = [
  'UTC',
  'Europe/Paris',
  'America/New_York',
  'America/Los_Angeles',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
  'Asia/Kathmandu',
  'Australia/Lord_Howe',
  'US/Eastern',
  'europe/paris',
  'Mars/Olympus_Mons',
  '',
  "'; --",
];
const emails = ['ann@example.com', "o'brien@example.com", 'bob@example.org', '😀@example.com'];
const nameArb = fc.oneof({ weight: 2, arbitrary: fc.constantFrom('Ann', 'Bob') }, { weight: 1, arbitrary: textArb });
const builtInTextArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('Ann', 'ann@example.com', 'Europe/Paris', '+15550100', 'a') },
  { weight: 1, arbitrary: fc.constantFrom(...emails, ...zones) },
  { weight: 1, arbitrary: textArb },
);

// Around the anchors of `now` below, so date conditions match often.
const monthDays = ['02-27', '02-28', '02-29', '03-01', '03-07', '03-08', '03-09', '12-31', '01-01'];
const years = ['2000', '2026', '2027', '2028'];
const dateTextArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...years), fc.constantFrom(...monthDays), fc.constantFrom('', '', 'T10:00:00Z', 'T23:59:59-05:00', ' or so'))
      .map(([y, md, rest]) => `${y}-${md}${rest}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('2026-13-45', '2026-3-1', '20260301', 'soon', '02-29') },
);
const calendarDateArb = fc
  .tuple(fc.constantFrom(...years), fc.constantFrom(...monthDays))
  .map(([y, md]) => `${y}-${md}`)
  .filter((d) => !Number.isNaN(Date.parse(d)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d));

const tagsValueArb = fc.oneof(fc.array(fc.oneof(tagArb, fc.integer({ min: 0, max: 3 })), { maxLength: 3 }), tagArb);
const attributeValueArb: fc.Arbitrary<unknown> = fc.oneof(
  textArb,
  numberArb,
  fc.boolean(),
  dateTextArb,
  tagsValueArb,
  fc.constant({ a: 1 }),
  fc.constant(null),
);

const contactArb: fc.Arbitrary<WorldContact> = fc
  .record({
    email: fc.option(fc.constantFrom(...emails)),
    phone: fc.option(fc.constantFrom('+15550100', '+447700900123')),
    firstName: fc.option(nameArb),
    lastName: fc.option(nameArb),
    timeZone: fc.option(fc.constantFrom(...zones)),
    plan: fc.option(fc.oneof(textArb, numberArb)),
    score: fc.option(fc.oneof(numberArb, textArb)),
    birthday: fc.option(dateTextArb),
    renewal: fc.option(dateTextArb),
    tags: fc.option(tagsValueArb),
    tagColumn: fc.uniqueArray(tagArb, { maxLength: 3 }),
    extra: fc.array(fc.tuple(keyArb, attributeValueArb), { maxLength: 4 }),
    lists: fc.subarray([...listSymbols]),
    messages: fc.record({
      C0: fc.array(fc.option(fc.constantFrom('pending', 'sent', 'delivered', 'opened', 'clicked', 'bounced', 'failed')), {
        minLength: 2,
        maxLength: 2,
      }),
      C1: fc.array(fc.option(fc.constantFrom('sent', 'opened', 'clicked', 'complained')), { minLength: 2, maxLength: 2 }),
    }),
  })
  .map(({ plan, score, birthday, renewal, tags, tagColumn, extra, ...c }) => {
    const entries: [string, unknown][] = [
      ...(plan === null ? [] : [['plan', plan] as [string, unknown]]),
      ...(score === null ? [] : [['score', score] as [string, unknown]]),
      ...(birthday === null ? [] : [['birthday', birthday] as [string, unknown]]),
      ...(renewal === null ? [] : [['renewal', renewal] as [string, unknown]]),
      ...(tags === null ? [] : [['tags', tags] as [string, unknown]]),
      ...extra,
    ];
    // fromEntries makes own properties, `__proto__` included, as JSON.parse does. An
    // attribute named `tags` stays as a decoy: the tag condition reads the column only.
    return { ...c, tags: [...tagColumn].sort(), attributes: Object.fromEntries(entries) };
  });

const HOUR = 3_600_000;
const anchors = ['2026-02-28T12:00:00Z', '2028-02-28T12:00:00Z', '2028-02-29T12:00:00Z', '2026-03-08T07:00:00Z', '2026-12-31T12:00:00Z'];
const nowArb = fc
  .tuple(fc.constantFrom(...anchors), fc.integer({ min: -20 * HOUR, max: 20 * HOUR }))
  .map(([anchor, shift]) => new Date(Date.parse(anchor) + shift));

const worldArb: fc.Arbitrary<World> = fc
  .record({
    zone: fc.constantFrom('UTC', 'Europe/Paris', 'America/Los_Angeles', 'Pacific/Kiritimati', 'Not/A_Zone'),
    now: nowArb,
    contacts: fc.array(contactArb, { minLength: 1, maxLength: 14 }),
  })
  .map((w) => ({ ...w, contacts: uniqueEmails(w.contacts) }));

/** Emails are unique in a workspace: later repeats lose theirs. */
function uniqueEmails(contacts: readonly WorldContact[]): WorldContact[] {
  const seen = new Set<string>();
  return contacts.map((c) => {
    if (c.email === null || !seen.has(c.email)) {
      if (c.email !== null) seen.add(c.email);
      return c;
    }
    return { ...c, email: null };
  });
}

const byType = <T extends string | number>(values: readonly [T, T]): [T, T] =>
  (
    typeof values[0] === 'number'
      ? (values[0] as number) <= (values[1] as number)
      : compareText(values[0] as string, values[1] as string) <= 0
  )
    ? [values[0], values[1]]
    : [values[1], values[0]];

function attributeArb(name: fc.Arbitrary<string>, text: fc.Arbitrary<string>, custom: boolean): fc.Arbitrary<AttributeCondition> {
  const scalar = custom ? fc.oneof(text, numberArb) : text;
  return fc.oneof(
    fc.record({
      attribute: name,
      op: fc.constantFrom('eq' as const, 'neq' as const),
      value: custom ? fc.oneof(text, numberArb, fc.boolean()) : text,
    }),
    fc.record({ attribute: name, op: fc.constantFrom('contains' as const, 'starts_with' as const), value: needleArb }),
    fc.record({ attribute: name, op: fc.constant('in' as const), value: fc.array(scalar, { minLength: 1, maxLength: 4 }) }),
    fc.record({ attribute: name, op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const), value: scalar }),
    fc.record({
      attribute: name,
      op: fc.constant('between' as const),
      value: custom
        ? fc.oneof(fc.tuple(numberArb, numberArb).map(byType), fc.tuple(text, text).map(byType))
        : fc.tuple(text, text).map(byType),
    }),
    fc.record({ attribute: name, op: fc.constantFrom('exists' as const, 'missing' as const) }),
  ) as fc.Arbitrary<AttributeCondition>;
}

const dateField = fc.constantFrom('birthday', 'birthday', 'birthday', 'renewal', 'renewal', 'a"b', 'plan').map((k) => `attributes.${k}`);
const dateConditionArb: fc.Arbitrary<DateCondition> = fc.oneof(
  fc.record({
    date: dateField,
    op: fc.constantFrom('within_last' as const, 'within_next' as const),
    days: fc.constantFrom(0, 1, 2, 7, 30, 400, 3000),
  }),
  fc.record(
    { date: dateField, op: fc.constant('anniversary_in' as const), days: fc.constantFrom(0, 0, 1, 2, 7, 365, 366) },
    { requiredKeys: ['date', 'op'] },
  ),
  fc.record({ date: dateField, op: fc.constantFrom('before' as const, 'after' as const), value: calendarDateArb }),
);

const leafArb: fc.Arbitrary<Segment> = fc.oneof(
  attributeArb(fc.constantFrom('email', 'phone', 'firstName', 'lastName', 'timeZone'), builtInTextArb, false),
  attributeArb(
    keyArb.map((k) => `attributes.${k}`),
    textArb,
    true,
  ),
  dateConditionArb,
  fc.record({ list: fc.constantFrom('L0', 'L1', 'L2', 'Lx') }),
  fc.record({ tag: tagArb }),
  fc.record({ campaign: fc.constantFrom('C0', 'C1', 'Cx'), event: fc.constantFrom(...campaignEvents) }),
);

const treeArb: fc.Arbitrary<Segment> = fc.letrec<{ node: Segment }>((tie) => ({
  node: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'segment' },
    leafArb,
    leafArb,
    fc.record({ and: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ or: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ not: tie('node') }),
  ),
})).node;

/**
 * The tree with every string a person typed (values, attribute keys, tags, list and
 * campaign ids) replaced by the next hostile string; ops, events and dates stay.
 */
function withHostileStrings(node: Segment, next: () => string): Segment {
  if ('and' in node) return { and: node.and.map((n) => withHostileStrings(n, next)) };
  if ('or' in node) return { or: node.or.map((n) => withHostileStrings(n, next)) };
  if ('not' in node) return { not: withHostileStrings(node.not, next) };
  if ('list' in node) return { list: next() };
  if ('tag' in node) return { tag: next() };
  if ('campaign' in node) return { ...node, campaign: next() };
  if ('date' in node) return { ...node, date: `attributes.${next()}` };
  const attribute = node.attribute.startsWith('attributes.') ? `attributes.${next()}` : node.attribute;
  const swap = <T>(v: T): T => (typeof v === 'string' ? (next() as T) : v);
  switch (node.op) {
    case 'exists':
    case 'missing':
      return { ...node, attribute };
    case 'in':
      return { ...node, attribute, value: node.value.map(swap) };
    case 'between':
      return { ...node, attribute, value: byType<string | number>([swap(node.value[0]), swap(node.value[1])]) } as Segment;
    default:
      return { ...node, attribute, value: swap(node.value) } as Segment;
  }
}

function must<T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
  return result.value;
}

// ---------------------------------------------------------------------------------------

describe.each(dialects)('compileSegment on %s', (dialect) => {
  let db: Db;
  let database: Awaited<ReturnType<typeof migratedDatabase>>;

  beforeAll(async () => {
    database = await migratedDatabase(dialect);
    db = database.db;
  });
  afterAll(async () => {
    await database.close();
  });

  async function selected(tree: Segment, workspaceId: string, now: Date, defaultTimeZone: string): Promise<number[]> {
    const inSegment = await compileSegment(db, tree, { workspaceId, now, defaultTimeZone });
    const rows = await db.selectFrom('contacts as c').select('c.id').where('c.workspace_id', '=', workspaceId).where(inSegment).execute();
    return rows.map((r) => r.id).sort((a, b) => a - b);
  }

  it('compiles a condition to SQL whose every value is a bound parameter', async () => {
    const scope = { workspaceId: 'ws_x', now: new Date('2026-03-01T00:00:00Z'), defaultTimeZone: 'UTC' };
    const compiled = (await compileSegment(db, { attribute: "attributes.it's", op: 'eq', value: "o'k" }, scope)).compile(db);
    if (dialect === 'sqlite') {
      expect(compiled.sql).toBe(`((json_type(c.attributes, ?) = 'text' and json_extract(c.attributes, ?) = ?) is true)`);
      expect(compiled.parameters).toEqual([`$."it's"`, `$."it's"`, "o'k"]);
    } else {
      expect(compiled.sql).toBe(
        `((jsonb_typeof((c.attributes::jsonb -> $1::text)) = 'string' and (c.attributes::jsonb ->> $2::text) = $3::text) is true)`,
      );
      expect(compiled.parameters).toEqual(["it's", "it's", "o'k"]);
    }
    const neq = (await compileSegment(db, { attribute: 'email', op: 'neq', value: 'a@x.io' }, scope)).compile(db);
    expect(neq.sql).toBe(
      dialect === 'sqlite'
        ? `(not (("c"."email" is not null and "c"."email" = ?) is true))`
        : `(not (("c"."email" is not null and "c"."email" = $1::text) is true))`,
    );
  });

  it('writes SQLite paths that name exactly one key, whatever it holds', () => {
    expect(sqliteKeyPath('plan')).toBe('$."plan"');
    expect(sqliteKeyPath('a"b')).toBe('$."a\\u0022b"');
    expect(sqliteKeyPath('a\\b\n')).toBe('$."a\\u005cb\\u000a"');
    expect(sqliteKeyPath('$.x[0]')).toBe('$."$.x[0]"');
  });

  it('selects the contacts the evaluator selects, for random trees over random contacts', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, fc.array(treeArb, { minLength: 1, maxLength: 6 }), async (world, trees) => {
        const { workspaceId, contactIds, idOf } = await seed(db, world);
        for (const symbolic of trees) {
          const tree = must(validateSegment(withIds(symbolic, idOf)));
          const expected = world.contacts.flatMap((c, i) => {
            const { contact, facts } = evaluatorView(c, idOf);
            return evaluate(tree, contact, facts, world.now, world.zone) ? [contactIds[i]!] : [];
          });
          expect(await selected(tree, workspaceId, world.now, world.zone)).toEqual(expected);
        }
      }),
      { numRuns: dialect === 'sqlite' ? 200 : 100 },
    );
  });

  it('keeps the statement’s text when only the strings change, however hostile', async () => {
    const world: World = {
      zone: 'Europe/Paris',
      now: new Date('2026-02-28T23:30:00Z'),
      contacts: uniqueEmails(fc.sample(contactArb, { numRuns: 12, seed: 42 })),
    };
    const { workspaceId, contactIds, idOf } = await seed(db, world);
    const scope = { workspaceId, now: world.now, defaultTimeZone: world.zone };
    const query = async (tree: Segment) =>
      db
        .selectFrom('contacts as c')
        .select('c.id')
        .where('c.workspace_id', '=', workspaceId)
        .where(await compileSegment(db, tree, scope))
        .orderBy('c.id');
    await fc.assert(
      fc.asyncProperty(treeArb, fc.array(hostileText, { minLength: 1, maxLength: 30 }), async (tree, strings) => {
        let i = 0;
        const next = () => strings[i++ % strings.length]!;
        const plain = must(validateSegment(tree));
        const twisted = must(validateSegment(withHostileStrings(tree, next)));
        const [a, b] = [(await query(plain)).compile(), (await query(twisted)).compile()];
        expect(b.sql).toBe(a.sql);
        expect(b.parameters.length).toBe(a.parameters.length);
        // Both run, and the hostile one still means what the evaluator says.
        await (await query(plain)).execute();
        const rows = await (await query(twisted)).execute();
        const expected = world.contacts.flatMap((c, k) => {
          const { contact, facts } = evaluatorView(c, idOf);
          return evaluate(twisted, contact, facts, world.now, world.zone) ? [contactIds[k]!] : [];
        });
        expect(rows.map((r) => r.id)).toEqual(expected);
      }),
      { numRuns: dialect === 'sqlite' ? 60 : 40 },
    );
    // Nothing was dropped or altered along the way.
    expect(
      await db
        .selectFrom('contacts')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('workspace_id', '=', workspaceId)
        .executeTakeFirst(),
    ).toEqual({
      n: 12,
    });
  });

  it('finds "birthday today in the contact’s zone, tagged vip, did not open campaign X" across zones', async () => {
    // 04:30 UTC on 9 March 2026: the 9th in New York (EDT since the 8th), Tokyo and
    // Kiritimati (UTC+14); still the 8th in Los Angeles, the workspace's zone, and Pago Pago (UTC−11).
    const now = new Date('2026-03-09T04:30:00Z');
    const vip = (birthday: string, timeZone: string | null, extra: Partial<WorldContact> = {}): WorldContact => ({
      email: null,
      phone: null,
      firstName: null,
      lastName: null,
      timeZone,
      tags: ['vip'],
      attributes: { birthday },
      lists: [],
      messages: {},
      ...extra,
    });
    const people: Record<string, WorldContact> = {
      newYork: vip('1990-03-09', 'America/New_York'),
      losAngelesTomorrow: vip('1990-03-09', 'America/Los_Angeles'),
      losAngeles: vip('1985-03-08', 'America/Los_Angeles'),
      tokyoOpened: vip('1990-03-09', 'Asia/Tokyo', { messages: { C0: ['opened', null] } }),
      tokyoClicked: vip('1990-03-09', 'Asia/Tokyo', { messages: { C0: [null, 'clicked'] } }),
      tokyoOpenedOnce: vip('1990-03-09', 'Asia/Tokyo', { messages: { C0: ['opened', 'pending'] } }),
      tokyoDelivered: vip('1990-03-09', 'Asia/Tokyo', { messages: { C0: ['delivered', null] } }),
      tokyoOpenedOther: vip('1990-03-09', 'Asia/Tokyo', { messages: { C1: ['opened', null] } }),
      kiritimati: vip('2001-03-09T08:00:00+14:00', 'Pacific/Kiritimati'),
      pagoPago: vip('1970-03-08', 'Pacific/Pago_Pago'),
      noZone: vip('1990-03-08', null),
      noZoneTomorrow: vip('1990-03-09', null),
      unknownZone: vip('1990-03-08', 'Mars/Olympus_Mons'),
      notVip: { ...vip('1990-03-09', 'Asia/Tokyo'), tags: ['VIP', 'new'] },
      tagOnlyInAttributes: { ...vip('1990-03-09', 'Asia/Tokyo'), tags: [], attributes: { birthday: '1990-03-09', tags: ['vip'] } },
      noBirthday: { ...vip('1990-03-09', 'Asia/Tokyo'), attributes: {} },
    };
    const names = Object.keys(people);
    const world: World = { zone: 'America/Los_Angeles', now, contacts: Object.values(people) };
    const { workspaceId, contactIds, idOf } = await seed(db, world);
    // The same people in another workspace are never selected.
    await seed(db, world);

    const tree = must(
      validateSegment({
        and: [{ date: 'attributes.birthday', op: 'anniversary_in' }, { tag: 'vip' }, { not: { campaign: idOf('C0'), event: 'opened' } }],
      }),
    );
    const ids = await selected(tree, workspaceId, now, world.zone);
    const chosen = ids.map((id) => names[contactIds.indexOf(id)]);
    expect(chosen).toEqual([
      'newYork',
      'losAngeles',
      'tokyoDelivered',
      'tokyoOpenedOther',
      'kiritimati',
      'pagoPago',
      'noZone',
      'unknownZone',
    ]);
    const evaluated = world.contacts.flatMap((c, i) => {
      const { contact, facts } = evaluatorView(c, idOf);
      return evaluate(tree, contact, facts, now, world.zone) ? [names[i]] : [];
    });
    expect(evaluated).toEqual(chosen);
  });

  it('celebrates 29 February on the 28th in common years', async () => {
    const person = (birthday: string): WorldContact => ({
      email: null,
      phone: null,
      firstName: null,
      lastName: null,
      timeZone: 'UTC',
      tags: [],
      attributes: { birthday },
      lists: [],
      messages: {},
    });
    const births = ['2000-02-29', '1999-02-28', '2000-03-01'];
    const today = must(validateSegment({ date: 'attributes.birthday', op: 'anniversary_in' }));
    for (const [day, expected] of [
      ['2027-02-28', ['2000-02-29', '1999-02-28']],
      ['2027-03-01', ['2000-03-01']],
      ['2028-02-28', ['1999-02-28']],
      ['2028-02-29', ['2000-02-29']],
    ] as const) {
      const now = new Date(`${day}T12:00:00Z`);
      const { workspaceId, contactIds } = await seed(db, { zone: 'UTC', now, contacts: births.map(person) });
      const ids = await selected(today, workspaceId, now, 'UTC');
      expect(ids.map((id) => births[contactIds.indexOf(id)])).toEqual(expected);
    }
  });

  it('compares numbers as JavaScript does and never across types', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const values = [2 ** 60, 2 ** 53 + 2, 0.1 + 0.2, 1e21, -0, 5, '5', true, 'true', [5], { n: 5 }];
    const person = (value: unknown): WorldContact => ({
      email: null,
      phone: null,
      firstName: null,
      lastName: null,
      timeZone: null,
      tags: [],
      attributes: { n: value },
      lists: [],
      messages: {},
    });
    const { workspaceId, contactIds } = await seed(db, { zone: 'UTC', now, contacts: values.map(person) });
    const holders = async (tree: Segment) => (await selected(tree, workspaceId, now, 'UTC')).map((id) => values[contactIds.indexOf(id)]);
    const n = 'attributes.n';
    expect(await holders({ attribute: n, op: 'eq', value: 2 ** 60 })).toEqual([2 ** 60]);
    expect(await holders({ attribute: n, op: 'eq', value: 0.30000000000000004 })).toEqual([0.1 + 0.2]);
    expect(await holders({ attribute: n, op: 'eq', value: 0 })).toEqual([-0]);
    expect(await holders({ attribute: n, op: 'in', value: [2 ** 53 + 2, 1e21, '5'] })).toEqual([2 ** 53 + 2, 1e21, '5']);
    expect(await holders({ attribute: n, op: 'gt', value: 2 ** 53 + 1 })).toEqual([2 ** 60, 2 ** 53 + 2, 1e21]);
    expect(await holders({ attribute: n, op: 'between', value: [0, 5] })).toEqual([0.1 + 0.2, -0, 5]);
    expect(await holders({ attribute: n, op: 'eq', value: 5 })).toEqual([5]);
    expect(await holders({ attribute: n, op: 'eq', value: '5' })).toEqual(['5']);
    expect(await holders({ attribute: n, op: 'contains', value: '5' })).toEqual(['5']);
    expect(await holders({ attribute: n, op: 'starts_with', value: 'tr' })).toEqual(['true']);
    expect(await holders({ attribute: n, op: 'eq', value: true })).toEqual([true]);
    expect(await holders({ attribute: n, op: 'gte', value: '' })).toEqual(['5', 'true']);
    expect(await holders({ attribute: n, op: 'exists' })).toEqual(values);
  });

  it('counts no one in a deleted list, and neq keeps contacts without the attribute', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const person = (attributes: Record<string, unknown>, lists: string[]): WorldContact => ({
      email: null,
      phone: null,
      firstName: null,
      lastName: null,
      timeZone: null,
      tags: [],
      attributes,
      lists,
      messages: {},
    });
    const { workspaceId, contactIds, idOf } = await seed(db, {
      zone: 'UTC',
      now,
      contacts: [person({ plan: 'pro' }, ['L0', 'L2']), person({ plan: 'free' }, ['L2']), person({}, ['L1'])],
    });
    const [pro, free, none] = contactIds;
    expect(await selected({ list: idOf('L2') }, workspaceId, now, 'UTC')).toEqual([]);
    expect(await selected({ list: idOf('L0') }, workspaceId, now, 'UTC')).toEqual([pro]);
    expect(await selected({ attribute: 'attributes.plan', op: 'neq', value: 'pro' }, workspaceId, now, 'UTC')).toEqual([free, none]);
    expect(
      await selected(
        {
          and: [
            { attribute: 'attributes.plan', op: 'exists' },
            { attribute: 'attributes.plan', op: 'neq', value: 'pro' },
          ],
        },
        workspaceId,
        now,
        'UTC',
      ),
    ).toEqual([free]);
  });
});
