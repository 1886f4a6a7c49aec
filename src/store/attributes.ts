import { type Kysely, type RawBuilder, sql } from 'kysely';
import { type AttributeType, attributeTypeOf, conformsTo } from '../domain/contact.js';
import { type Result, fail, ok } from '../domain/errors.js';
import { dialectOf, inList } from './dialect.js';
import type { AttributeDefinitionTable, Database } from './schema.js';
import { sqliteKeyPath } from './segment-sql.js';

/**
 * Declared types of custom attributes (one row per workspace and name). Every write of a
 * contact checks its attributes against them; a name written for the first time is
 * declared with the type of its value, as Braze does.
 */

export type AttributeDefinitionRow = AttributeDefinitionTable;

/** The API shape of a declaration. */
export function attributeOf(row: AttributeDefinitionRow) {
  return { name: row.name, type: row.type, description: row.description, createdAt: row.created_at };
}

/** The workspace's declarations, by name. */
export async function attributeTypes(db: Kysely<Database>, workspaceId: string): Promise<Map<string, AttributeType>> {
  const rows = await db.selectFrom('attribute_definitions').select(['name', 'type']).where('workspace_id', '=', workspaceId).execute();
  return new Map(rows.map((r) => [r.name, r.type]));
}

export async function listAttributes(db: Kysely<Database>, workspaceId: string): Promise<AttributeDefinitionRow[]> {
  return db.selectFrom('attribute_definitions').selectAll().where('workspace_id', '=', workspaceId).orderBy('name').execute();
}

/**
 * Declares (or re-describes) an attribute. Changing the type of one that contacts already
 * hold is refused with CONFLICT while any stored value does not fit the new type (one
 * counting scan of the workspace's contacts), so a declaration never lies about the data.
 */
export async function putAttribute(
  db: Kysely<Database>,
  workspaceId: string,
  name: string,
  input: { type: AttributeType; description?: string | null | undefined },
  now: Date,
): Promise<Result<{ row: AttributeDefinitionRow; created: boolean }>> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('attribute_definitions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!existing || existing.type !== input.type) {
      const misfits = await countMisfits(trx, workspaceId, name, input.type);
      if (misfits > 0)
        return fail(
          'CONFLICT',
          `${misfits} contact(s) hold a value of attributes.${name} that is not a ${input.type}; change or remove them first.`,
          {
            contacts: misfits,
          },
        );
    }
    const row: AttributeDefinitionRow = {
      workspace_id: workspaceId,
      name,
      type: input.type,
      description: input.description === undefined ? (existing?.description ?? null) : input.description,
      created_at: existing?.created_at ?? now.toISOString(),
    };
    await trx
      .insertInto('attribute_definitions')
      .values(row)
      .onConflict((oc) => oc.columns(['workspace_id', 'name']).doUpdateSet({ type: row.type, description: row.description }))
      .execute();
    return ok({ row, created: !existing });
  });
}

/** Removes a declaration; stored values stay, and the next write of the name declares it again. False when there was none. */
export async function deleteAttribute(db: Kysely<Database>, workspaceId: string, name: string): Promise<boolean> {
  const result = await db
    .deleteFrom('attribute_definitions')
    .where('workspace_id', '=', workspaceId)
    .where('name', '=', name)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/** How many of the workspace's contacts hold a non-null value of the attribute that does not fit the type. */
async function countMisfits(db: Kysely<Database>, workspaceId: string, name: string, type: AttributeType): Promise<number> {
  const row = await db
    .selectFrom('contacts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', workspaceId)
    .where(misfit(db, name, type))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The attribute is present, not null, and not of the type (a date: text of the form YYYY-MM-DD). */
function misfit(db: Kysely<Database>, key: string, type: AttributeType): RawBuilder<boolean> {
  if (dialectOf(db) === 'postgres') {
    const kind = sql`jsonb_typeof(attributes::jsonb -> ${key}::text)`;
    const fits = {
      string: sql`${kind} = 'string'`,
      number: sql`${kind} = 'number'`,
      boolean: sql`${kind} = 'boolean'`,
      date: sql`${kind} = 'string' and (attributes::jsonb ->> ${key}::text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'`,
    }[type];
    return sql<boolean>`(${kind} is not null and ${kind} <> 'null' and not (${fits}))`;
  }
  const path = sqliteKeyPath(key);
  const kind = sql`json_type(attributes, ${path})`;
  const fits = {
    string: sql`${kind} = 'text'`,
    number: sql`${kind} in ('integer', 'real')`,
    boolean: sql`${kind} in ('true', 'false')`,
    date: sql`${kind} = 'text' and json_extract(attributes, ${path}) glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'`,
  }[type];
  return sql<boolean>`(${kind} is not null and ${kind} <> 'null' and not (${fits}))`;
}

export interface AttributeIssue {
  /** The input's position in the batch. */
  readonly index: number;
  readonly field: string;
  readonly reason: string;
}

/**
 * Inside a contact write: checks every non-null attribute value of the batch against the
 * declarations (read here, in the transaction, so a declaration made since the caller
 * checked still counts) and declares the undeclared ones with the type of their first
 * value. Two statements at most, whatever the batch size. Issues come back as values.
 */
export async function declareAttributes(
  trx: Kysely<Database>,
  workspaceId: string,
  batch: readonly (Readonly<Record<string, unknown>> | null | undefined)[],
  now: Date,
): Promise<readonly AttributeIssue[]> {
  const names = new Set<string>();
  for (const attrs of batch) if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) names.add(k);
  if (names.size === 0) return [];
  const declared = new Map(
    (
      await trx
        .selectFrom('attribute_definitions')
        .select(['name', 'type'])
        .where('workspace_id', '=', workspaceId)
        .where(inList(sql.ref('name'), [...names]))
        .execute()
    ).map((r) => [r.name, r.type]),
  );
  const fresh = new Map<string, AttributeType>();
  const issues: AttributeIssue[] = [];
  batch.forEach((attrs, index) => {
    if (!attrs) return;
    for (const [key, v] of Object.entries(attrs)) {
      if (v === null || v === undefined) continue;
      const type = declared.get(key) ?? fresh.get(key) ?? attributeTypeOf(v);
      if (type === null || !conformsTo(v, type)) {
        issues.push({
          index,
          field: `attributes.${key}`,
          reason: type ? `must be a ${type} (the attribute is declared ${type})` : 'must be a string, number, boolean or date',
        });
      } else if (!declared.has(key)) fresh.set(key, type);
    }
  });
  if (issues.length === 0) await declareTypes(trx, workspaceId, fresh, now);
  return issues;
}

/**
 * Declares types for attributes not yet declared (one statement; a declaration made
 * meanwhile by another writer wins). For writers that checked values themselves, such as
 * CSV import with the `inferred` of `normaliseContacts`.
 */
export async function declareTypes(
  db: Kysely<Database>,
  workspaceId: string,
  types: ReadonlyMap<string, AttributeType>,
  now: Date,
): Promise<void> {
  if (types.size === 0) return;
  await db
    .insertInto('attribute_definitions')
    .values([...types].map(([name, type]) => ({ workspace_id: workspaceId, name, type, description: null, created_at: now.toISOString() })))
    .onConflict((oc) => oc.columns(['workspace_id', 'name']).doNothing())
    .execute();
}
