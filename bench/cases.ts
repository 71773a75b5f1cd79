/**
 * The benchmark's cases: one server process each, all serving the same four routes.
 *
 * A case is a platform (Express or Fastify) plus a session layer: none (`bare`), this library on
 * one of its stores, or a peer library. Cases that need Redis or PostgreSQL are left out, with
 * the reason in the report, when the server is not reachable.
 */

export type Platform = 'express' | 'fastify';

/** The session layer a case runs. */
export type Layer =
  | 'bare'
  | 'nest-floor'
  | 'novanest-memory'
  | 'novanest-redis'
  | 'novanest-redis-nearcache'
  | 'novanest-postgres'
  | 'novanest-cookie'
  | 'express-session-memory'
  | 'express-session-redis'
  | 'express-session-pg'
  | 'nestjs-session'
  | 'fastify-session';

export interface BenchCase {
  /** Unique, used in the tables and on the command line: `<layer>@<platform>`. */
  readonly id: string;
  readonly layer: Layer;
  readonly platform: Platform;
  /** Short label for tables. */
  readonly label: string;
  readonly needs: readonly ('redis' | 'postgres')[];
  /**
   * This library (the targets of issue 7 apply), a peer, the baseline, or a reference: the bare
   * app with only the Nest parts this library's shape needs (a global interceptor, a parameter
   * decorator, async handlers) and no session work, which shows what Nest itself charges.
   */
  readonly kind: 'bare' | 'reference' | 'ours' | 'peer';
}

/** The routes every case serves; `setup` prepares a session for the three cookie routes. */
export const ROUTES = ['new', 'read', 'write', 'untouched'] as const;
export type Route = (typeof ROUTES)[number];

/** Which routes the load generator sends the prepared session cookie to. */
export const ROUTE_SENDS_COOKIE: Record<Route, boolean> = {
  new: false,
  read: true,
  write: true,
  // A browser sends its cookie to every route: the untouched route must be cheap even then.
  untouched: true,
};

const LABELS: Record<Layer, string> = {
  bare: 'bare (no sessions)',
  'nest-floor': 'Nest floor (no-op interceptor + param decorator)',
  'novanest-memory': 'novanest memory',
  'novanest-redis': 'novanest Redis',
  'novanest-redis-nearcache': 'novanest Redis + near-cache',
  'novanest-postgres': 'novanest Postgres',
  'novanest-cookie': 'novanest cookie',
  'express-session-memory': 'express-session memory',
  'express-session-redis': 'express-session + connect-redis',
  'express-session-pg': 'express-session + connect-pg-simple',
  'nestjs-session': 'nestjs-session (memory)',
  'fastify-session': '@fastify/session (memory)',
};

const NEEDS: Partial<Record<Layer, readonly ('redis' | 'postgres')[]>> = {
  'novanest-redis': ['redis'],
  'novanest-redis-nearcache': ['redis'],
  'novanest-postgres': ['postgres'],
  'express-session-redis': ['redis'],
  'express-session-pg': ['postgres'],
};

function makeCase(layer: Layer, platform: Platform): BenchCase {
  const kind = layer === 'bare' ? 'bare' : layer === 'nest-floor' ? 'reference' : layer.startsWith('novanest-') ? 'ours' : 'peer';
  return {
    id: `${layer}@${platform}`,
    layer,
    platform,
    label: LABELS[layer],
    needs: NEEDS[layer] ?? [],
    kind,
  };
}

/** Every case, in report order; the near-cache case only when the store supports it. */
export function allCases(options: { nearCache: boolean }): BenchCase[] {
  const ours: Layer[] = ['novanest-memory', 'novanest-redis'];
  if (options.nearCache) ours.push('novanest-redis-nearcache');
  ours.push('novanest-postgres', 'novanest-cookie');
  const cases: BenchCase[] = [];
  for (const platform of ['express', 'fastify'] as const) {
    cases.push(makeCase('bare', platform));
    cases.push(makeCase('nest-floor', platform));
    for (const layer of ours) cases.push(makeCase(layer, platform));
    const peers: Layer[] =
      platform === 'express'
        ? ['express-session-memory', 'express-session-redis', 'express-session-pg', 'nestjs-session']
        : ['fastify-session'];
    for (const layer of peers) cases.push(makeCase(layer, platform));
  }
  return cases;
}

/** Looks a case up by its id (`novanest-memory@express`). */
export function parseCaseId(id: string): BenchCase {
  const [layer, platform] = id.split('@');
  if ((platform !== 'express' && platform !== 'fastify') || !(layer in LABELS)) {
    throw new Error(
      `unknown bench case ${JSON.stringify(id)}: expected <layer>@<express|fastify>, layers: ${Object.keys(LABELS).join(', ')}`,
    );
  }
  return makeCase(layer as Layer, platform);
}
