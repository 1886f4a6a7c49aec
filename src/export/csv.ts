import { Readable, pipeline } from 'node:stream';
import { stringify } from 'csv-stringify';
import { type Kysely, sql } from 'kysely';
import { type Result, fail, ok } from '../domain/errors.js';
import type { Segment } from '../domain/segment.js';
import { dialectOf } from '../store/dialect.js';
import type { Database } from '../store/schema.js';
import { compileSegment } from '../store/segment-sql.js';

/**
 * CSV exports of contacts and of a campaign's recipients, for the API and the CLI alike.
 * Rows are read a page at a time by keyset (`id > last`, 1,000 a page) and streamed
 * through csv-stringify, so an export of a million contacts holds one page in memory and
 * never keeps a read transaction open between pages.
 */

const pageSize = 1000;

/** Rows to CSV; an error while reading (a lost database) destroys the output, so the response ends instead of hanging. */
function csvOf(rows: AsyncIterable<string[]>, columns: readonly string[]): Readable {
  return pipeline(Readable.from(rows), stringify({ header: true, columns: [...columns] }), () => undefined);
}
/** Beyond this many distinct attribute names an export keeps the first ones (by name). */
const maxAttributeColumns = 500;

/** Contact columns, named as the import maps them back (herald_id is ignored on import). */
const contactHeaders = [
  'herald_id',
  'email',
  'phone',
  'first_name',
  'last_name',
  'time_zone',
  'external_id',
  'tags',
  'telegram_chat_id',
  'viber_id',
] as const;

/** A cell: text as is, numbers and booleans as text, anything else as JSON. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** The attribute names of the workspace: declared ones and any key a contact holds. */
async function attributeNames(db: Kysely<Database>, workspaceId: string): Promise<string[]> {
  const held =
    dialectOf(db) === 'postgres'
      ? sql<{ key: string }>`select distinct jsonb_object_keys(attributes::jsonb) as key from contacts where workspace_id = ${workspaceId}`
      : sql<{ key: string }>`select distinct j.key as key from contacts c, json_each(c.attributes) j where c.workspace_id = ${workspaceId}`;
  const [declared, found] = await Promise.all([
    db.selectFrom('attribute_definitions').select('name').where('workspace_id', '=', workspaceId).execute(),
    held.execute(db),
  ]);
  const names = new Set([...declared.map((d) => d.name), ...found.rows.map((r) => r.key)]);
  return [...names].sort().slice(0, maxAttributeColumns);
}

export interface ContactExportFilter {
  readonly listId?: string | undefined;
  readonly segmentId?: string | undefined;
}

/**
 * The workspace's contacts as CSV (a header line, then one line per contact in id order),
 * optionally only a list's members or a segment's. Fails NOT_FOUND for an unknown list or segment.
 */
export async function exportContacts(
  db: Kysely<Database>,
  args: { workspaceId: string; filter: ContactExportFilter; now: Date; timeZone: string },
): Promise<Result<Readable>> {
  const { workspaceId, filter } = args;
  let where = sql<boolean>`1 = 1`;
  if (filter.listId !== undefined) {
    const list = await db
      .selectFrom('lists')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', filter.listId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!list) return fail('NOT_FOUND', `No list ${filter.listId} in this workspace.`);
    where = sql<boolean>`${where} and exists (select 1 from list_members lm where lm.list_id = ${list.id} and lm.contact_id = c.id)`;
  }
  if (filter.segmentId !== undefined) {
    const segment = await db
      .selectFrom('segments')
      .select('rule')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', filter.segmentId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!segment) return fail('NOT_FOUND', `No segment ${filter.segmentId} in this workspace.`);
    const rule = await compileSegment(db, JSON.parse(segment.rule) as Segment, {
      workspaceId,
      now: args.now,
      defaultTimeZone: args.timeZone,
    });
    where = sql<boolean>`${where} and ${rule}`;
  }
  const attributes = await attributeNames(db, workspaceId);

  async function* rows(): AsyncGenerator<string[]> {
    let after = 0;
    for (;;) {
      const page = await db
        .selectFrom('contacts as c')
        .select([
          'c.id',
          'c.email',
          'c.phone',
          'c.first_name',
          'c.last_name',
          'c.time_zone',
          'c.external_id',
          'c.tags',
          'c.telegram_chat_id',
          'c.viber_id',
          'c.attributes',
        ])
        .where('c.workspace_id', '=', workspaceId)
        .where('c.id', '>', after)
        .where(where)
        .orderBy('c.id')
        .limit(pageSize)
        .execute();
      for (const c of page) {
        const attrs = JSON.parse(c.attributes) as Record<string, unknown>;
        const tags = JSON.parse(c.tags) as string[];
        yield [
          String(c.id),
          cell(c.email),
          cell(c.phone),
          cell(c.first_name),
          cell(c.last_name),
          cell(c.time_zone),
          cell(c.external_id),
          tags.join(';'),
          cell(c.telegram_chat_id),
          cell(c.viber_id),
          ...attributes.map((name) => cell(Object.hasOwn(attrs, name) ? attrs[name] : null)),
        ];
      }
      if (page.length < pageSize) return;
      after = Number(page.at(-1)!.id);
    }
  }
  return ok(csvOf(rows(), [...contactHeaders, ...attributes]));
}

const recipientHeaders = [
  'contact_id',
  'email',
  'external_id',
  'address',
  'state',
  'attempts',
  'error_code',
  'error_detail',
  'sent_at',
  'updated_at',
] as const;

/**
 * The ledger of a campaign's current run as CSV: one line per recipient (who, the address
 * used, the state, attempts, the error, when it was sent), by contact id, paged on the
 * ledger's own (run_id, contact_id) key. Fails NOT_FOUND for an unknown campaign.
 */
export async function exportRecipients(db: Kysely<Database>, args: { workspaceId: string; campaignId: string }): Promise<Result<Readable>> {
  const campaign = await db
    .selectFrom('campaigns')
    .select('current_run_id')
    .where('workspace_id', '=', args.workspaceId)
    .where('id', '=', args.campaignId)
    .executeTakeFirst();
  if (!campaign) return fail('NOT_FOUND', `No campaign ${args.campaignId} in this workspace.`);
  const runId = campaign.current_run_id;

  async function* rows(): AsyncGenerator<string[]> {
    if (runId === null) return;
    let after = 0;
    for (;;) {
      const page = await db
        .selectFrom('messages as m')
        .leftJoin('contacts as c', 'c.id', 'm.contact_id')
        .select([
          'm.contact_id',
          'c.email',
          'c.external_id',
          'm.address',
          'm.state',
          'm.attempts',
          'm.error_code',
          'm.error_detail',
          'm.sent_at',
          'm.updated_at',
        ])
        .where('m.run_id', '=', runId)
        .where('m.workspace_id', '=', args.workspaceId)
        .where('m.contact_id', '>', after)
        .orderBy('m.contact_id')
        .limit(pageSize)
        .execute();
      for (const m of page) {
        yield [
          String(m.contact_id),
          cell(m.email),
          cell(m.external_id),
          cell(m.address),
          m.state,
          String(m.attempts),
          cell(m.error_code),
          cell(m.error_detail),
          cell(m.sent_at),
          m.updated_at,
        ];
      }
      if (page.length < pageSize) return;
      after = Number(page.at(-1)!.contact_id);
    }
  }
  return ok(csvOf(rows(), recipientHeaders));
}
