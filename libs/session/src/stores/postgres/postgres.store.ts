import { hash } from 'node:crypto';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { SessionStoreTimeoutError, withDeadline } from '../../persistence/store-deadline.js';
import { SESSION_LOGGER_CONTEXT } from '../../session.constants.js';
import { isPlainObject, parseStoredValue } from '../../session/session-value.js';
import {
  boundUserOf,
  type CompareAndSetResult,
  SessionStore,
  type SessionWrite,
  type StoredSession,
  type UserSessionRecord,
} from '../session.store.js';

/** Options of `PostgresStore`. */
export interface PostgresStoreOptions {
  /**
   * A `pg` Pool. The store never ends it; you own its life. Set `connectionTimeoutMillis` (and
   * a `statement_timeout`) so that requests get their 503 quickly while the database is away.
   */
  pool: Pool;
  /**
   * Table name, optionally schema-qualified (`'auth.sessions'`). Letters, digits and
   * underscores only, checked at construction. Default: `'sessions'`.
   */
  table?: string;
  /**
   * Create the table and its expiry index (`CREATE ... IF NOT EXISTS`) before the first query.
   * Leave it off when your migrations run `postgres.schema.sql`. Default: `false`.
   */
  createTable?: boolean;
  /**
   * Seconds between background passes that delete expired rows (one `unref()`'d timer,
   * cleared at application shutdown). `false` turns it off; call `prune()` yourself then.
   * Expired rows are never read either way. Default: `900` (15 minutes).
   */
  pruneInterval?: number | false;
  /**
   * Send the store's statements as named prepared statements, so each pooled connection parses
   * and plans each of them once instead of on every request (measured on loopback: about 25%
   * more reads and 50% more writes per second, 40 to 60 µs less client CPU per write). Turn it
   * off behind a pooler that cannot keep prepared statements across transactions (PgBouncer in
   * transaction mode before 1.21, or with `max_prepared_statements = 0`). Default: `true`.
   */
  preparedStatements?: boolean;
}

/** The store's statements, by what they do. */
type Statement = 'select' | 'insert' | 'update' | 'touch' | 'destroy' | 'prune';

/** A statement as `pg` takes it: unnamed, or named so that a connection prepares it once. */
interface QueryConfig {
  name?: string;
  text: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Longest name Postgres keeps; longer index names would be silently truncated. */
const MAX_IDENTIFIER_LENGTH = 63;

/** Splits and checks `schema.table` / `table`; throws one clear sentence otherwise. */
function parseTableName(table: unknown): string[] {
  const parts = typeof table === 'string' ? table.split('.') : [];
  if (parts.length === 0 || parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new Error(
      `PostgresStore table must be an identifier like "sessions" or "auth.sessions" ` +
        `(letters, digits, underscores; at most 63 characters each), got ${JSON.stringify(table)}`,
    );
  }
  return parts;
}

function quote(identifier: string): string {
  // Validated against IDENTIFIER already: no quote characters can occur.
  return `"${identifier}"`;
}

/** `CREATE TABLE IF NOT EXISTS` racing with another node's: the other one won, which is fine. */
function isAlreadyCreated(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '23505' || code === '42P07' || code === '42710' || code === '42701';
}

/**
 * A prepared statement's name: what it does and a digest of its text. A connection keeps one
 * text per name, so stores on other tables sharing the pool get names of their own, and the
 * same store on every node gets the same names.
 */
function statementName(statement: string, text: string): string {
  return `novanest_session_${statement}_${hash('sha256', text, 'hex').slice(0, 16)}`;
}

/** Pools that already have our idle-error listener (several stores may share one pool). */
const POOLS_WATCHED = new WeakSet<Pool>();

/**
 * JSON text that `jsonb` refuses: a `\u0000` escape or an unpaired surrogate (`JSON.stringify`
 * escapes both; an escaped backslash before the `u` does not count).
 */
const JSONB_UNSUPPORTED = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** Refuses, before any I/O and with the reason in the log, what the database would refuse. */
function assertJsonbSafe(json: string): void {
  if (JSONB_UNSUPPORTED.test(json)) {
    throw new Error(
      'PostgresStore cannot store a session key or value containing U+0000 or an unpaired surrogate ' +
        '(PostgreSQL jsonb refuses them); nothing was written',
    );
  }
}

/**
 * Where the pool connects, for log lines: host, port and database as pg resolves them from its
 * options and the PG* environment variables (an unconnected client does that), never the user
 * or password.
 */
function poolAddress(pool: Pool): string {
  try {
    const PoolClient = (pool as Pool & { Client: new (options: unknown) => { host?: string; port?: number; database?: string } }).Client;
    const { host, port, database } = new PoolClient((pool as Pool & { options: unknown }).options);
    return `${host ?? 'localhost'}:${port ?? 5432}${database ? `/${database}` : ''}`;
  } catch {
    return 'the address the pool was given';
  }
}

/** The statements of destroy marks and adoption (the first write of an issued id). */
type MarkStatement = 'adopt' | 'destroyMarked' | 'pruneMarked';

/**
 * Destroy marks and adoption, on table `t` (quoted). Only these name `gone_until`, so a table
 * created before the column existed serves everything else unchanged until the migration
 * runs. A mark is the session's row emptied, expired (`expires_at = now()`, so every other
 * statement sees no session there) and marked `gone_until`. `adopt` creates the row, or
 * merges into the live one (keeping its `created_at`), or replaces an expired one, in one
 * statement, and refuses (no row) where a mark has not run out. `destroyMarked` answers
 * whether a live session was there: the row is locked and read as committed (`FOR UPDATE`),
 * so two concurrent destroys never both answer true.
 */
function markStatements(t: string, prepared: boolean): Record<MarkStatement, QueryConfig> {
  const ms = (param: string): string => `now() + ${param}::float8 * interval '1 millisecond'`;
  const texts: Record<MarkStatement, string> = {
    adopt:
      `INSERT INTO ${t} AS s (key, data, created_at, expires_at, user_id) ` +
      `VALUES ($1, $2::jsonb, to_timestamp($3::float8 / 1000), ${ms('$4')}, $5::text) ` +
      `ON CONFLICT (key) DO UPDATE SET ` +
      `data = CASE WHEN s.expires_at > now() THEN s.data || EXCLUDED.data ELSE EXCLUDED.data END, ` +
      `created_at = CASE WHEN s.expires_at > now() THEN s.created_at ELSE EXCLUDED.created_at END, ` +
      `user_id = CASE WHEN s.expires_at > now() THEN COALESCE(EXCLUDED.user_id, s.user_id) ELSE EXCLUDED.user_id END, ` +
      `expires_at = EXCLUDED.expires_at, gone_until = NULL ` +
      `WHERE s.gone_until IS NULL OR s.gone_until <= now()`,
    destroyMarked:
      `WITH old AS (SELECT key, expires_at > now() AS live FROM ${t} WHERE key = $1 FOR UPDATE), ` +
      `marked AS (UPDATE ${t} AS s SET data = '{}'::jsonb, expires_at = now(), user_id = NULL, ` +
      `gone_until = GREATEST(s.gone_until, ${ms('$2')}) FROM old WHERE s.key = old.key RETURNING old.live), ` +
      `added AS (INSERT INTO ${t} AS s (key, data, created_at, expires_at, gone_until) ` +
      `SELECT $1, '{}'::jsonb, now(), now(), ${ms('$2')} WHERE NOT EXISTS (SELECT 1 FROM old) ` +
      `ON CONFLICT (key) DO UPDATE SET data = '{}'::jsonb, expires_at = now(), user_id = NULL, ` +
      `gone_until = EXCLUDED.gone_until RETURNING false AS live) ` +
      `SELECT live FROM marked UNION ALL SELECT live FROM added`,
    pruneMarked: `DELETE FROM ${t} WHERE expires_at <= now() AND (gone_until IS NULL OR gone_until <= now())`,
  };
  return Object.fromEntries(
    Object.entries(texts).map(([statement, text]) => [statement, prepared ? { name: statementName(statement, text), text } : { text }]),
  ) as Record<MarkStatement, QueryConfig>;
}

/** The atomic per-key update's statements on table `t` (quoted), named as the others are. */
function updateStatements(t: string, prepared: boolean): Record<'compareAndSet' | 'readField', QueryConfig> {
  const texts = {
    compareAndSet:
      `UPDATE ${t} SET data = jsonb_set(data, ARRAY[$2::text], $4::jsonb), ` +
      `expires_at = now() + $5::float8 * interval '1 millisecond' ` +
      `WHERE key = $1 AND expires_at > now() AND (data -> $2::text) IS NOT DISTINCT FROM $3::jsonb`,
    readField: `SELECT (data -> $2::text)::text AS current FROM ${t} WHERE key = $1 AND expires_at > now()`,
  };
  const config = (statement: string, text: string): QueryConfig => (prepared ? { name: statementName(statement, text), text } : { text });
  return { compareAndSet: config('compareAndSet', texts.compareAndSet), readField: config('readField', texts.readField) };
}

interface SessionRow {
  data: string;
  created_ms: number | string;
  remaining_ms: number | string;
}

/** The statements of the per-user index, kept apart: only sessions bound to a user use them. */
type UserStatement = 'insertUser' | 'updateUser' | 'listUser';

/** A `SessionRow` with its key, as the per-user list reads it. */
interface KeyedSessionRow extends SessionRow {
  key: string;
}

/**
 * Sessions in PostgreSQL, one row per session with the values in a `jsonb` column. A commit
 * is one statement that merges only the keys the request changed (`data - deleted || set`), so
 * concurrent requests that change different keys keep each other's writes, and it only updates
 * a live row, so a session destroyed meanwhile stays destroyed. Expiry uses the database clock.
 * Every value reaches the database as a bound parameter.
 *
 * ```ts
 * SessionModule.forRoot(new PostgresStore({ pool: new Pool({ connectionString }) }))
 * ```
 */
export class PostgresStore extends SessionStore implements OnApplicationShutdown {
  protected readonly pool: Pool;
  private readonly logger = new Logger(SESSION_LOGGER_CONTEXT);
  private readonly tableParts: string[];
  private readonly createTable: boolean;
  private readonly pruneIntervalMs: number | undefined;
  private readonly sql: Record<Statement, QueryConfig>;
  /** The atomic per-key update's statements (see `compareAndSet`). */
  private readonly updateSql: Record<'compareAndSet' | 'readField', QueryConfig>;
  private readonly userSql: Record<UserStatement, QueryConfig>;
  private readonly markSql: Record<MarkStatement, QueryConfig>;
  /**
   * Whether the table has the `gone_until` column (destroy marks, adoption): unknown until a
   * statement that names it has run; `false` once one failed for want of it, and then ids are
   * not adopted (a new visitor's first write gets a fresh id, as before) until a prune finds
   * the column (each prune tries, so a migration run while the app serves is taken up by the
   * next one).
   */
  private marksColumn: boolean | undefined;
  private warnedNoMarks = false;
  private ready: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: PostgresStoreOptions) {
    super();
    const {
      pool,
      table = 'sessions',
      createTable = false,
      pruneInterval = 900,
      preparedStatements = true,
    } = options ?? ({} as PostgresStoreOptions);
    if (pool === undefined || pool === null || typeof (pool as Pool).query !== 'function') {
      throw new Error('PostgresStore needs a pg Pool: new PostgresStore({ pool: new Pool({ connectionString }) })');
    }
    if (pruneInterval !== false && (typeof pruneInterval !== 'number' || !Number.isFinite(pruneInterval) || pruneInterval <= 0)) {
      throw new Error(`PostgresStore pruneInterval must be a positive number of seconds or false, got ${String(pruneInterval)}`);
    }
    if (typeof preparedStatements !== 'boolean') {
      throw new Error(`PostgresStore preparedStatements must be true or false, got ${String(preparedStatements)}`);
    }
    this.pool = pool;
    // pg emits 'error' on the pool when an idle connection dies (database restarted, network
    // cut); with no listener that event would crash the process. The pool drops the dead
    // connection itself, so logging is all there is to do.
    if (!POOLS_WATCHED.has(pool)) {
      POOLS_WATCHED.add(pool);
      pool.on('error', (error: Error) => {
        this.logger.warn(`PostgresStore: an idle database connection failed: ${error.message}`);
      });
    }
    this.tableParts = parseTableName(table);
    this.createTable = createTable;
    this.pruneIntervalMs = pruneInterval === false ? undefined : pruneInterval * 1000;
    const t = this.tableParts.map(quote).join('.');
    const ttl = `now() + $TTL::float8 * interval '1 millisecond'`;
    const texts: Record<Statement, string> = {
      select:
        `SELECT data::text AS data, ` +
        `(extract(epoch FROM created_at) * 1000)::float8 AS created_ms, ` +
        `(extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms ` +
        `FROM ${t} WHERE key = $1 AND expires_at > now()`,
      insert:
        `INSERT INTO ${t} (key, data, created_at, expires_at) ` +
        `VALUES ($1, $2::jsonb, to_timestamp($3::float8 / 1000), ${ttl.replace('$TTL', '$4')}) ` +
        `ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, created_at = EXCLUDED.created_at, ` +
        `expires_at = EXCLUDED.expires_at`,
      update:
        `UPDATE ${t} SET ` +
        `data = (CASE WHEN $2::boolean THEN '{}'::jsonb ELSE data END - $3::text[]) || $4::jsonb, ` +
        `expires_at = ${ttl.replace('$TTL', '$5')} ` +
        `WHERE key = $1 AND expires_at > now()`,
      touch: `UPDATE ${t} SET expires_at = ${ttl.replace('$TTL', '$2')} WHERE key = $1 AND expires_at > now()`,
      destroy: `DELETE FROM ${t} WHERE key = $1 RETURNING expires_at > now() AS live`,
      prune: `DELETE FROM ${t} WHERE expires_at <= now()`,
    };
    this.sql = Object.fromEntries(
      Object.entries(texts).map(([statement, text]) => [
        statement,
        preparedStatements ? { name: statementName(statement, text), text } : { text },
      ]),
    ) as Record<Statement, QueryConfig>;
    this.updateSql = updateStatements(t, preparedStatements);
    this.userSql = userStatements(t, texts, preparedStatements);
    this.markSql = markStatements(t, preparedStatements);
  }

  /** The statements that create the table and its index, as `postgres.schema.sql` has them. */
  get schemaSql(): string {
    const t = this.tableParts.map(quote).join('.');
    const base = this.tableParts[this.tableParts.length - 1];
    const index = `${base.slice(0, MAX_IDENTIFIER_LENGTH - '_expires_at_idx'.length)}_expires_at_idx`;
    const userIndex = `${base.slice(0, MAX_IDENTIFIER_LENGTH - '_user_id_idx'.length)}_user_id_idx`;
    return (
      `CREATE TABLE IF NOT EXISTS ${t} (key text PRIMARY KEY, data jsonb NOT NULL DEFAULT '{}'::jsonb, ` +
      `created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, user_id text, gone_until timestamptz);\n` +
      `CREATE INDEX IF NOT EXISTS ${quote(index)} ON ${t} (expires_at);\n` +
      // A user's sessions: added to tables created before the column existed, too.
      `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS user_id text;\n` +
      `CREATE INDEX IF NOT EXISTS ${quote(userIndex)} ON ${t} (user_id) WHERE user_id IS NOT NULL;\n` +
      // Destroy marks (one session from the first write): added to older tables, too.
      `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS gone_until timestamptz;`
    );
  }

  async get(key: string): Promise<StoredSession | undefined> {
    const result = await this.query<SessionRow>(this.sql.select, [key]);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    const stored = parseStoredValue(row.data);
    if (!isPlainObject(stored)) return undefined;
    // Object.entries reads own properties only: a key named __proto__ stays data.
    const data = new Map<string, unknown>(Object.entries(stored));
    // The remaining lifetime is measured on the database clock, so app/database skew cannot
    // shorten or stretch a session.
    return {
      data,
      createdAt: Math.round(Number(row.created_ms)),
      expiresAt: Date.now() + Number(row.remaining_ms),
    };
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    const set = JSON.stringify(Object.fromEntries(change.set));
    assertJsonbSafe(set);
    assertJsonbSafe(JSON.stringify(change.delete));
    const ttl = Math.max(0, change.ttl);
    if (change.user !== undefined) return this.writeBound(key, change, set, ttl, change.user.userId);
    if (change.mode === 'create') {
      await this.query(this.sql.insert, [key, set, change.createdAt, ttl]);
      return true;
    }
    const result = await this.query(this.sql.update, [key, change.clear, [...change.delete], set, ttl]);
    return result.rowCount === 1;
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    const result = await this.query(this.sql.touch, [key, Math.max(0, ttl)]);
    return result.rowCount === 1;
  }

  async destroy(key: string, markTtl?: number): Promise<boolean> {
    if (markTtl !== undefined && markTtl > 0 && this.marksColumn !== false) {
      const marked = await this.markQuery(this.markSql.destroyMarked, [key, Math.ceil(markTtl)]);
      if (marked !== undefined) return marked.rows.some((row: { live?: unknown }) => row.live === true);
    }
    const result = await this.query(this.sql.destroy, [key]);
    return result.rows.some((row: { live?: unknown }) => row.live === true);
  }

  /**
   * The first write of an issued id (see `SessionStore.adopt`): one statement, `INSERT ... ON
   * CONFLICT DO UPDATE` that merges per key (`data || set`), serialised on the row by
   * PostgreSQL, so parallel first writes land in one row; refused where a destroy mark has not
   * run out. A table without the `gone_until` column adopts nothing (warned once).
   */
  override async adopt(key: string, change: SessionWrite): Promise<boolean> {
    if (this.marksColumn === false) return false;
    const set = JSON.stringify(Object.fromEntries(change.set));
    assertJsonbSafe(set);
    const userId = change.user?.userId ?? null;
    const result = await this.markQuery(this.markSql.adopt, [key, set, change.createdAt, Math.max(0, change.ttl), userId]);
    return result !== undefined && result.rowCount === 1;
  }

  // --- The atomic per-key update (session.update) ---------------------------------------

  /**
   * One conditional UPDATE: sets the field (`jsonb_set`) and moves the expiry only where the
   * row is live and `data -> field IS NOT DISTINCT FROM expected` (jsonb equality; an absent
   * field is SQL NULL, a JSON null is not). Two concurrent updates of one row are serialised
   * by its row lock, and the second re-checks the condition against the first one's result
   * (READ COMMITTED), so it is refused rather than applied over it. A refusal reads the field
   * (and whether the row is still live) in a fresh statement, so the retry compares against
   * what was committed meanwhile.
   */
  override async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const expectedJson = expected === undefined ? null : JSON.stringify(expected);
    const nextJson = JSON.stringify(next);
    assertJsonbSafe(JSON.stringify(field));
    if (expectedJson !== null) assertJsonbSafe(expectedJson);
    assertJsonbSafe(nextJson);
    const updated = await this.query(this.updateSql.compareAndSet, [key, field, expectedJson, nextJson, Math.max(0, ttl)]);
    if (updated.rowCount === 1) return { outcome: 'applied' };
    const read = await this.query<{ current: string | null }>(this.updateSql.readField, [key, field]);
    const row = read.rows[0];
    if (row === undefined) return { outcome: 'gone' };
    return { outcome: 'changed', current: row.current === null ? undefined : parseStoredValue(row.current) };
  }

  // --- end of the atomic per-key update ---------------------------------------------------

  /**
   * The user's live sessions: one statement over the `user_id` index. A row leaves the index
   * with the row itself (destroyed, or pruned once expired; expired rows are never listed).
   */
  override async listByUser(userId: string): Promise<UserSessionRecord[]> {
    const result = await this.userQuery<KeyedSessionRow>(this.userSql.listUser, [userId]);
    const records: UserSessionRecord[] = [];
    const now = Date.now();
    for (const row of result.rows) {
      const stored = parseStoredValue(row.data);
      if (!isPlainObject(stored)) continue;
      const data = new Map<string, unknown>(Object.entries(stored));
      if (boundUserOf(data) !== userId) continue;
      records.push({
        key: row.key,
        session: { data, createdAt: Math.round(Number(row.created_ms)), expiresAt: now + Number(row.remaining_ms) },
      });
    }
    return records;
  }

  /**
   * Start-up check, within `timeoutMs`: the database answers and the table exists (created
   * first when `createTable` is on). Rejects with a sentence that names the table, the
   * database's address (never the user or password) and the fix.
   */
  override async check(timeoutMs: number): Promise<void> {
    const table = this.tableParts.map(quote).join('.');
    let found: boolean;
    try {
      found = await withDeadline(async () => {
        await this.ensureReady();
        const result = await this.pool.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [table]);
        return result.rows[0]?.found === true;
      }, timeoutMs);
    } catch (error) {
      const reason =
        error instanceof SessionStoreTimeoutError
          ? `no answer within ${timeoutMs} ms`
          : error instanceof Error
            ? error.message
            : String(error);
      throw new Error(
        `PostgresStore: PostgreSQL at ${poolAddress(this.pool)} did not answer (${reason}): ` +
          'start it there or point the pg Pool at the right host, port and database',
        { cause: error },
      );
    }
    if (!found) {
      throw new Error(
        `PostgresStore: table ${table} does not exist in PostgreSQL at ${poolAddress(this.pool)}: ` +
          'run @novanest/session/postgres.schema.sql with your migrations, or pass createTable: true',
      );
    }
  }

  /**
   * Deletes every expired row (and run-out destroy mark) now; resolves with how many went. It
   * always tries the statement that names `gone_until` first, so a table migrated since the
   * column was found missing gets destroy marks and adoption back here.
   */
  async prune(): Promise<number> {
    const marked = await this.markQuery(this.markSql.pruneMarked, []);
    if (marked !== undefined) return marked.rowCount ?? 0;
    const result = await this.query(this.sql.prune, []);
    return result.rowCount ?? 0;
  }

  /** Stops the prune timer. The pool is yours: it stays open. */
  onApplicationShutdown(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A write that files the session under a user: the insert or update that also sets `user_id`. */
  private async writeBound(key: string, change: SessionWrite, set: string, ttl: number, userId: string): Promise<boolean> {
    if (change.mode === 'create') {
      await this.userQuery(this.userSql.insertUser, [key, set, change.createdAt, ttl, userId]);
      return true;
    }
    const result = await this.userQuery(this.userSql.updateUser, [key, change.clear, [...change.delete], set, ttl, userId]);
    return result.rowCount === 1;
  }

  /** A per-user statement; a table without the `user_id` column gets a sentence that says what to run. */
  private async userQuery<R extends object = Record<string, unknown>>(
    statement: QueryConfig,
    values: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    try {
      return await this.query<R>(statement, values);
    } catch (error) {
      if ((error as { code?: unknown } | undefined)?.code !== '42703') throw error;
      const table = this.tableParts.map(quote).join('.');
      throw new Error(
        `PostgresStore: table ${table} has no user_id column, which bindUser and a user's sessions need: ` +
          'run the ALTER TABLE and CREATE INDEX of @novanest/session/postgres.schema.sql, or pass createTable: true',
        { cause: error },
      );
    }
  }

  /**
   * A statement that names `gone_until`; `undefined` when the table lacks the column (then
   * remembered, and warned about once, with the migration to run).
   */
  private async markQuery<R extends object = Record<string, unknown>>(
    statement: QueryConfig,
    values: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null } | undefined> {
    try {
      const result = await this.query<R>(statement, values);
      this.marksColumn = true;
      return result;
    } catch (error) {
      if ((error as { code?: unknown } | undefined)?.code !== '42703') throw error;
      this.marksColumn = false;
      if (!this.warnedNoMarks) {
        this.warnedNoMarks = true;
        const table = this.tableParts.map(quote).join('.');
        this.logger.warn(
          `PostgresStore: table ${table} has no gone_until column, so a new visitor's parallel first writes ` +
            'may start separate sessions: run the last ALTER TABLE of @novanest/session/postgres.schema.sql, or pass createTable: true',
        );
      }
      return undefined;
    }
  }

  private async query<R extends object = Record<string, unknown>>(
    statement: QueryConfig,
    values: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }> {
    await this.ensureReady();
    this.startPruning();
    return this.pool.query<R & Record<string, unknown>>({ ...statement, values });
  }

  /** Creates the table once when asked to; a failure is retried by the next call. */
  private ensureReady(): Promise<void> {
    if (!this.createTable) return Promise.resolve();
    this.ready ??= this.createSchema().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async createSchema(): Promise<void> {
    for (const statement of this.schemaSql.split(';\n')) {
      try {
        await this.pool.query(statement);
      } catch (error) {
        if (!isAlreadyCreated(error)) throw error;
      }
    }
  }

  private startPruning(): void {
    if (this.timer !== undefined || this.closed || this.pruneIntervalMs === undefined) return;
    this.timer = setInterval(() => {
      this.prune().catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        this.logger.warn(`PostgresStore prune failed (will retry): ${reason}`);
      });
    }, this.pruneIntervalMs);
    this.timer.unref();
  }
}

/** `text` with `from` replaced; throws when `from` is not there (a plain statement changed shape). */
function replaced(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`PostgresStore: cannot derive a per-user statement from: ${text}`);
  return text.replace(from, to);
}

/**
 * The per-user statements: the insert and update of a write that binds a session to a user
 * (the plain ones plus `user_id`), and the list. Only these name `user_id`, so a table created
 * before the column existed serves every other statement unchanged until the migration runs.
 */
function userStatements(table: string, texts: Record<Statement, string>, prepared: boolean): Record<UserStatement, QueryConfig> {
  const userTexts: Record<UserStatement, string> = {
    insertUser: replaced(
      replaced(texts.insert, '(key, data, created_at, expires_at)', '(key, data, created_at, expires_at, user_id)'),
      ') ON CONFLICT',
      ', $5) ON CONFLICT',
    ).concat(', user_id = EXCLUDED.user_id'),
    updateUser: replaced(texts.update, ' WHERE key = $1', ', user_id = $6 WHERE key = $1'),
    listUser:
      `SELECT key, data::text AS data, ` +
      `(extract(epoch FROM created_at) * 1000)::float8 AS created_ms, ` +
      `(extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms ` +
      `FROM ${table} WHERE user_id = $1 AND expires_at > now()`,
  };
  return Object.fromEntries(
    Object.entries(userTexts).map(([statement, text]) => [statement, prepared ? { name: statementName(statement, text), text } : { text }]),
  ) as Record<UserStatement, QueryConfig>;
}
