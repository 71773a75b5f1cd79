/**
 * Turning slices into the results: medians over rounds, ratios and CPU increments against the
 * bare app of the same platform measured right around each slice (or in the same round), the targets of issue 7, Markdown.
 * Pure functions: the harness's smoke test runs them on made-up samples.
 */
import { type BenchCase, type Platform, ROUTES, type Route } from './cases.js';

/** One measured slice: one case, one route, one round. */
export interface Sample {
  round: number;
  caseId: string;
  route: Route;
  /** Responses completed in the slice. */
  requests: number;
  durationS: number;
  /** p99 latency, ms. */
  p99Ms: number;
  /** Server CPU time (user + system, all threads) spent during the slice, µs. */
  cpuUs: number;
  /** Responses that were not 2xx, plus socket errors and timeouts. */
  failures: number;
  /** Near-cache reads answered from memory and from Redis (near-cache cases only). */
  cacheHits?: number;
  cacheMisses?: number;
  /**
   * The bare app of the same platform and route measured right before and right after this
   * slice (their mean), which this slice is compared with. Without it, the bare slice of the
   * same round is used.
   */
  baseline?: { cpuPerReqUs: number; reqPerSec: number };
}

export interface CellResult {
  caseId: string;
  route: Route;
  rounds: number;
  reqPerSec: number;
  p99Ms: number;
  cpuPerReqUs: number;
  /** Ratio of req/s to the bare app of the same platform, same round; median over rounds. */
  ratio: number | undefined;
  /** Server CPU µs per request over the bare app's, same round; median, min and max over rounds. */
  incrementUs: number | undefined;
  incrementMinUs: number | undefined;
  incrementMaxUs: number | undefined;
  failures: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const rate = (sample: Sample): number => sample.requests / sample.durationS;
const cpuPerRequest = (sample: Sample): number => (sample.requests === 0 ? Number.NaN : sample.cpuUs / sample.requests);

/** Aggregates the samples of every case and route; `bareOf` names the baseline case of a case. */
export function aggregate(samples: readonly Sample[], cases: readonly BenchCase[]): CellResult[] {
  const byKey = new Map<string, Sample>();
  for (const sample of samples) byKey.set(`${sample.caseId}|${sample.route}|${sample.round}`, sample);
  const results: CellResult[] = [];
  for (const bench of cases) {
    const bareId = `bare@${bench.platform}`;
    for (const route of ROUTES) {
      const own = samples.filter((sample) => sample.caseId === bench.id && sample.route === route && sample.requests > 0);
      if (own.length === 0) continue;
      const ratios: number[] = [];
      const increments: number[] = [];
      for (const sample of own) {
        let baseline = sample.baseline;
        if (baseline === undefined) {
          const bare = byKey.get(`${bareId}|${route}|${sample.round}`);
          if (bare === undefined || bare.requests === 0) continue;
          baseline = { cpuPerReqUs: cpuPerRequest(bare), reqPerSec: rate(bare) };
        }
        ratios.push(rate(sample) / baseline.reqPerSec);
        increments.push(cpuPerRequest(sample) - baseline.cpuPerReqUs);
      }
      results.push({
        caseId: bench.id,
        route,
        rounds: own.length,
        reqPerSec: median(own.map(rate)),
        p99Ms: median(own.map((sample) => sample.p99Ms)),
        cpuPerReqUs: median(own.map(cpuPerRequest)),
        ratio: ratios.length === 0 ? undefined : median(ratios),
        incrementUs: increments.length === 0 ? undefined : median(increments),
        incrementMinUs: increments.length === 0 ? undefined : Math.min(...increments),
        incrementMaxUs: increments.length === 0 ? undefined : Math.max(...increments),
        failures: own.reduce((sum, sample) => sum + sample.failures, 0),
      });
    }
  }
  return results;
}

/** Issue 7's targets: the most server CPU per request this library may add over bare, µs. */
export const TARGETS: Record<string, Partial<Record<Route, number>>> = {
  'novanest-memory': { new: 15, read: 10, write: 15, untouched: 5 },
  'novanest-redis': { read: 45, write: 55 },
  'novanest-redis-nearcache': { read: 12 },
  'novanest-postgres': { read: 90, write: 150 },
  'novanest-cookie': { read: 20, write: 30 },
};

/** What issue 7 measured for the peers (added µs over bare, ratio), for comparison. */
export const ISSUE_PEER_FIGURES: Record<string, Partial<Record<Route, string>>> = {
  'express-session-memory': { new: '+126 (0.61)', read: '+122 (0.64)', write: '+125 (0.57)' },
  'express-session-redis': { new: '+189 (0.49)', read: '+161 (0.53)', write: '+160 (0.51)' },
  'express-session-pg': { new: '+305 (0.34)', read: '+617 (0.16)', write: '+610 (0.15)' },
  'nestjs-session': { new: '+137 (0.58)', read: '+140 (0.58)', write: '+134 (0.56)' },
  'fastify-session': { new: '+41 (0.47)', read: '+58 (0.42)', write: '+57 (0.38)' },
};

export interface TargetCheck {
  caseId: string;
  route: Route;
  targetUs: number;
  measuredUs: number;
  minUs: number;
  maxUs: number;
  met: boolean;
}

export function checkTargets(results: readonly CellResult[], cases: readonly BenchCase[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const bench of cases) {
    const targets = TARGETS[bench.layer];
    if (targets === undefined) continue;
    for (const route of ROUTES) {
      const targetUs = targets[route];
      const cell = results.find((result) => result.caseId === bench.id && result.route === route);
      if (targetUs === undefined || cell?.incrementUs === undefined) continue;
      checks.push({
        caseId: bench.id,
        route,
        targetUs,
        measuredUs: cell.incrementUs,
        minUs: cell.incrementMinUs ?? cell.incrementUs,
        maxUs: cell.incrementMaxUs ?? cell.incrementUs,
        met: cell.incrementUs <= targetUs,
      });
    }
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Markdown.

const fixed = (value: number | undefined, digits = 0): string => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
const signed = (value: number | undefined): string =>
  value === undefined || Number.isNaN(value) ? '–' : `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(0)}`;

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const rule = `|${align.map((a) => (a === 'r' ? '--:' : ':--')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The full table: one row per case and route. */
export function resultsTable(results: readonly CellResult[], cases: readonly BenchCase[]): string {
  const rows: string[][] = [];
  for (const bench of cases) {
    for (const cell of results.filter((result) => result.caseId === bench.id)) {
      rows.push([
        bench.platform,
        bench.label,
        cell.route,
        fixed(cell.reqPerSec),
        fixed(cell.ratio, 2),
        fixed(cell.p99Ms, 1),
        fixed(cell.cpuPerReqUs),
        bench.kind === 'bare' ? '' : signed(cell.incrementUs),
        cell.failures === 0 ? '' : String(cell.failures),
      ]);
    }
  }
  return table(['platform', 'case', 'route', 'req/s', 'ratio', 'p99 ms', 'CPU µs/req', '+µs vs bare', 'failures'], rows, [
    'l',
    'l',
    'l',
    'r',
    'r',
    'r',
    'r',
    'r',
    'r',
  ]);
}

/** The issue's layout: scenarios down, cases across, `+µs (ratio)` in each cell; one per platform. */
export function summaryMatrix(results: readonly CellResult[], cases: readonly BenchCase[], platform: Platform): string {
  const columns = cases.filter((bench) => bench.platform === platform && bench.kind !== 'bare');
  const bare = cases.find((bench) => bench.platform === platform && bench.kind === 'bare');
  const rows = ROUTES.map((route) => {
    const bareCell = results.find((result) => result.caseId === bare?.id && result.route === route);
    const cells = columns.map((bench) => {
      const cell = results.find((result) => result.caseId === bench.id && result.route === route);
      return cell === undefined ? '–' : `${signed(cell.incrementUs)} µs (${fixed(cell.ratio, 2)})`;
    });
    return [route, bareCell === undefined ? '–' : `${fixed(bareCell.cpuPerReqUs)} µs, ${fixed(bareCell.reqPerSec)}/s`, ...cells];
  });
  return table(['scenario', 'bare', ...columns.map((bench) => bench.label)], rows, ['l', 'r', ...columns.map(() => 'r' as const)]);
}

/**
 * The targets, each beside the Nest floor of its platform and route (what a no-op global
 * interceptor, a parameter decorator and async handlers cost in the same run) when it ran.
 */
export function targetsTable(checks: readonly TargetCheck[], cases: readonly BenchCase[], results: readonly CellResult[] = []): string {
  const label = (id: string): string => {
    const bench = cases.find((candidate) => candidate.id === id);
    return bench === undefined ? id : `${bench.label} (${bench.platform})`;
  };
  const floorOf = (check: TargetCheck): number | undefined => {
    const platform = cases.find((candidate) => candidate.id === check.caseId)?.platform;
    const floor = cases.find((candidate) => candidate.kind === 'reference' && candidate.platform === platform);
    return results.find((cell) => cell.caseId === floor?.id && cell.route === check.route)?.incrementUs;
  };
  return table(
    ['case', 'route', 'target', 'measured (median)', 'rounds min … max', 'Nest floor', 'over the floor', 'met'],
    checks.map((check) => {
      const floor = floorOf(check);
      return [
        label(check.caseId),
        check.route,
        `≤ +${check.targetUs} µs`,
        `${signed(check.measuredUs)} µs`,
        `${signed(check.minUs)} … ${signed(check.maxUs)}`,
        floor === undefined ? '–' : `${signed(floor)} µs`,
        floor === undefined ? '–' : `${signed(check.measuredUs - floor)} µs`,
        check.met ? 'yes' : '**no**',
      ];
    }),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
}

export function peersTable(results: readonly CellResult[], cases: readonly BenchCase[]): string {
  const rows: string[][] = [];
  for (const bench of cases) {
    const issue = ISSUE_PEER_FIGURES[bench.layer];
    if (issue === undefined) continue;
    for (const route of ['new', 'read', 'write'] as const) {
      const cell = results.find((result) => result.caseId === bench.id && result.route === route);
      rows.push([
        `${bench.label} (${bench.platform})`,
        route,
        issue[route] ?? '–',
        cell === undefined ? '–' : `${signed(cell.incrementUs)} (${fixed(cell.ratio, 2)})`,
      ]);
    }
  }
  return table(['peer', 'route', 'issue 7 (µs, ratio)', 'this run (µs, ratio)'], rows, ['l', 'l', 'r', 'r']);
}

/**
 * For each near-cache case and route, the share of its cached reads answered from memory over
 * all measured slices: a near-cache figure means little if the cache was not serving.
 */
export function nearCacheNotes(samples: readonly Sample[]): string[] {
  const totals = new Map<string, { hits: number; misses: number }>();
  for (const sample of samples) {
    const reads = (sample.cacheHits ?? 0) + (sample.cacheMisses ?? 0);
    if (reads === 0) continue;
    const id = `${sample.caseId} ${sample.route}`;
    const total = totals.get(id) ?? { hits: 0, misses: 0 };
    total.hits += sample.cacheHits ?? 0;
    total.misses += sample.cacheMisses ?? 0;
    totals.set(id, total);
  }
  return [...totals].map(
    ([id, { hits, misses }]) =>
      `Near-cache ${id}: ${((100 * hits) / (hits + misses)).toFixed(2)}% of ${hits + misses} session loads answered from memory.`,
  );
}
