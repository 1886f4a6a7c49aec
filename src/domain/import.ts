import { type Static, Type } from '@sinclair/typebox';

/**
 * Shapes of CSV imports (DESIGN §5: "CSV import streams with a progress bar"), declared
 * once for the API and the CLI.
 */

export const importStatuses = ['running', 'completed', 'failed'] as const;
export type ImportStatus = (typeof importStatuses)[number];

/**
 * Where a CSV column goes: a contact field, `attributes.<name>` (a custom attribute), or
 * `ignore`. Headers map automatically (see import/mapping.ts); `--map header=field`
 * (CLI) or `?map=header=field` (API) overrides one.
 */
export const contactColumns = [
  'email',
  'phone',
  'firstName',
  'lastName',
  'timeZone',
  'externalId',
  'tags',
  'telegramChatId',
  'viberId',
] as const;
export type ContactColumn = (typeof contactColumns)[number];
export type ColumnTarget = ContactColumn | `attributes.${string}` | 'ignore';

export const Import = Type.Object({
  id: Type.String(),
  status: Type.Unsafe<ImportStatus>({ type: 'string', enum: [...importStatuses] }),
  listId: Type.Union([Type.String(), Type.Null()], { description: 'The list every imported contact joins' }),
  filename: Type.Union([Type.String(), Type.Null()]),
  mapping: Type.Record(Type.String(), Type.String(), { description: 'CSV header → contact field, attributes.<name> or ignore' }),
  rowsRead: Type.Integer({ description: 'Data rows read so far (the header is not a row)' }),
  rowsImported: Type.Integer({ description: 'Valid rows written: created + updated + unchanged' }),
  rowsInvalid: Type.Integer({ description: 'Rows skipped; GET /v1/imports/{id}/errors says why' }),
  created: Type.Integer({ description: 'Contacts created' }),
  updated: Type.Integer({ description: 'Existing contacts whose stored values changed' }),
  unchanged: Type.Integer({ description: 'Valid rows that matched a contact and changed nothing (a re-import)' }),
  error: Type.Union([Type.String(), Type.Null()], { description: 'Why a failed import stopped' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});
export type Import = Static<typeof Import>;

export const ImportError = Type.Object({
  line: Type.Integer({ description: 'Line of the file where the row starts (the header is line 1)' }),
  field: Type.Union([Type.String(), Type.Null()], { description: 'The contact field at fault, when one is' }),
  reason: Type.String(),
});
export type ImportError = Static<typeof ImportError>;
