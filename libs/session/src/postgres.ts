/**
 * `@novanest/session/postgres`: the PostgreSQL store. Needs the `pg` peer dependency. The table
 * it expects ships as `@novanest/session/postgres.schema.sql`.
 */
export { PostgresStore } from './stores/postgres/postgres.store.js';
export type { PostgresStoreOptions } from './stores/postgres/postgres.store.js';
