import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadConfig } from '../config.js';
import type { Result } from '../domain/errors.js';
import { exportContacts, exportRecipients } from '../export/csv.js';
import { openWorkspace } from './workspace.js';

/**
 * `herald export contacts|recipients …`: the API's exports, on the database of DATABASE_URL,
 * for the first workspace (or --workspace), as CSV to stdout or --out.
 */

export interface ExportCommand {
  readonly what: 'contacts' | 'recipients';
  /** recipients: the campaign id. */
  readonly campaign?: string | undefined;
  readonly list?: string | undefined;
  readonly segment?: string | undefined;
  readonly out?: string | undefined;
  readonly workspace?: string | undefined;
}

/** Writes an export to --out or stdout. */
export async function runExportCommand(opts: ExportCommand): Promise<number> {
  const { db, workspaceId, timeZone } = await openWorkspace(loadConfig().database, opts.workspace);
  try {
    let result: Result<Readable>;
    if (opts.what === 'recipients') {
      if (!opts.campaign) throw new Error('herald export recipients needs the campaign id.');
      result = await exportRecipients(db, { workspaceId, campaignId: opts.campaign });
    } else {
      let listId: string | undefined;
      if (opts.list) {
        const found = await db
          .selectFrom('lists')
          .select('id')
          .where('workspace_id', '=', workspaceId)
          .where('deleted_at', 'is', null)
          .where((eb) => eb.or([eb('id', '=', opts.list!), eb('name', '=', opts.list!)]))
          .executeTakeFirst();
        if (!found) throw new Error(`No list named (or with the id) "${opts.list}".`);
        listId = found.id;
      }
      result = await exportContacts(db, { workspaceId, filter: { listId, segmentId: opts.segment }, now: new Date(), timeZone });
    }
    if (!result.ok) throw new Error(result.error.detail);
    if (opts.out) await pipeline(result.value, createWriteStream(opts.out));
    else await pipeline(result.value, process.stdout, { end: false });
    return 0;
  } finally {
    await db.destroy();
  }
}
