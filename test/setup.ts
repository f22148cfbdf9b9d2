// Applies the D1 migrations once per test file to every database of the pool (DB and the data
// databases); applyD1Migrations skips those already applied.
import { applyD1Migrations, type D1Migration, env } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}

for (const db of [env.DB, env.DATA_DB_1, env.DATA_DB_2]) await applyD1Migrations(db, env.TEST_MIGRATIONS);
