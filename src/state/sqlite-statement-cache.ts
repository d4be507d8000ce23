import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Distinct query shapes a serve process runs are a few dozen; the bound only guards against unbounded ones (IN lists, bulk inserts). */
const MAX_STATEMENTS = 256;

/**
 * kysely's SQLite driver prepares every query anew, and preparing (parsing
 * and planning the SQL) cost more than running it for serve's per-session
 * queries: about a fifth of the L7R's CPU per connect. Statements are kept
 * by SQL text (values are always parameters) and reused; better-sqlite3
 * runs each to completion synchronously, so one statement is never in use twice.
 */
export function withStatementCache(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      const hit = cache.get(sql);
      if (hit !== undefined) {
        // Most recently used last, so the first entry is the one to drop.
        cache.delete(sql);
        cache.set(sql, hit);
        return hit;
      }
      const statement = db.prepare(sql);
      cache.set(sql, statement);
      if (cache.size > MAX_STATEMENTS) cache.delete(cache.keys().next().value as string);
      return statement;
    },
  };
}
