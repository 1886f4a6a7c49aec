import { type Db, type DatabaseLocation, migrate, openDatabase } from '../store/database.js';
import { firstWorkspace, getWorkspace } from '../store/workspaces.js';

/** The database, migrated, and the workspace a CLI command works in. */
export interface CliWorkspace {
  readonly db: Db;
  readonly workspaceId: string;
  readonly timeZone: string;
}

/** Opens and migrates the database and finds the workspace (`--workspace`, else the first); throws, saying what to do, when there is none. */
export async function openWorkspace(location: DatabaseLocation, workspace: string | undefined): Promise<CliWorkspace> {
  const db = openDatabase(location);
  await migrate(db);
  const ws = workspace ? await getWorkspace(db, workspace) : await firstWorkspace(db);
  if (!ws) {
    await db.destroy();
    throw new Error(
      workspace
        ? `No workspace ${workspace} in this database.`
        : 'No workspace yet: run `herald serve` once (it creates the first workspace and its API key), or pass --workspace.',
    );
  }
  return { db, workspaceId: ws.id, timeZone: ws.time_zone };
}
