import { loadConfig } from '../config.js';
import { describeLocation, migrate, openDatabase } from '../store/database.js';

/** `herald migrate`: applies pending migrations and says which. */
export async function runMigrate(): Promise<void> {
  const config = loadConfig();
  const db = openDatabase(config.database);
  try {
    const applied = await migrate(db);
    console.log(
      applied.length
        ? `Applied ${applied.join(', ')} to ${describeLocation(config.database)}.`
        : `${describeLocation(config.database)} is up to date.`,
    );
  } finally {
    await db.destroy();
  }
}
