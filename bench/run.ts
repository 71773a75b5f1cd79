/**
 * `npm run bench [-- options]`: this library against the bare app and the peers, in one run.
 *
 * Starts one server process per case (bench/server.ts, pinned to CPU 0), prepares a session
 * cookie in each, then loads every case and route with autocannon from this process (pinned to
 * CPU 1) in short slices, all of them once per round, in a shuffled order, over several rounds.
 * Within a round, each platform and route runs as bare, case, bare, case, …, bare, and each case
 * is compared with the two bare slices around it: the machine drifts within seconds, so only
 * neighbours see the same conditions. Each slice samples the server's CPU time before and after.
 * Prints the tables and writes bench/results.md.
 *
 * Options:
 *   --quick             about two and a half minutes: 0.4 s warm-up, then 2 rounds of 0.25 s slices
 *   --rounds N          measured rounds (default 3)
 *   --slice S           seconds per slice (default 1)
 *   --warmup S          seconds of unmeasured load per case and route before round 1 (default 2)
 *   --cases a,b         only these case ids (plus the bare apps), e.g. novanest-memory@express
 *   --max-minutes M     stop starting rounds after M minutes (default 20; quick 5)
 *   --out FILE          where to write the Markdown (default bench/results.md; "-" for none)
 */
import { cpus, loadavg, release } from 'node:os';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execSync } from 'node:child_process';
import { redisStoreSupportsNearCache } from './app.js';
import { type BenchCase, ROUTES, type Route, allCases } from './cases.js';
import {
  type CaseServer,
  cleanUpServices,
  findServices,
  packageVersions,
  pinSelf,
  pinServices,
  prepareSession,
  repoRoot,
  runSlice,
  startServers,
} from './harness.js';
import { type Sample, aggregate, checkTargets, nearCacheNotes, peersTable, resultsTable, summaryMatrix, targetsTable } from './report.js';

interface RunOptions {
  quick: boolean;
  rounds: number;
  sliceS: number;
  warmupS: number;
  cases: string[] | undefined;
  maxMinutes: number;
  out: string | undefined;
}

function parseArgs(argv: readonly string[]): RunOptions {
  const quick = argv.includes('--quick');
  const options: RunOptions = {
    quick,
    rounds: quick ? 2 : 3,
    sliceS: quick ? 0.25 : 1,
    // Short warm-ups leave the JIT cold: the first second of a case runs at a fraction of its speed.
    warmupS: quick ? 0.4 : 2,
    cases: undefined,
    maxMinutes: quick ? 5 : 20,
    out: path.join(repoRoot(), 'bench', 'results.md'),
  };
  const value = (index: number, flag: string): string => {
    const next = argv[index + 1];
    if (next === undefined) throw new Error(`${flag} needs a value`);
    return next;
  };
  const positive = (text: string, flag: string): number => {
    const parsed = Number(text);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${flag} must be a positive number, got ${text}`);
    return parsed;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--quick':
        break;
      case '--rounds':
        options.rounds = Math.round(positive(value(i++, flag), flag));
        break;
      case '--slice':
        options.sliceS = positive(value(i++, flag), flag);
        break;
      case '--warmup':
        options.warmupS = Number(value(i++, flag));
        break;
      case '--cases':
        options.cases = value(i++, flag).split(',').filter(Boolean);
        break;
      case '--max-minutes':
        options.maxMinutes = positive(value(i++, flag), flag);
        break;
      case '--out': {
        const out = value(i++, flag);
        options.out = out === '-' ? undefined : path.resolve(out);
        break;
      }
      default:
        throw new Error(`unknown option ${flag} (see the header of bench/run.ts)`);
    }
  }
  return options;
}

/** A small seeded PRNG, so that a round's order is shuffled but the same from run to run. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** The mean of the bare slices right before and right after a case's slice. */
function bracket(before: Sample, after: Sample): Sample['baseline'] {
  const usable = [before, after].filter((sample) => sample.requests > 0);
  if (usable.length === 0) return undefined;
  const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  return {
    cpuPerReqUs: mean(usable.map((sample) => sample.cpuUs / sample.requests)),
    reqPerSec: mean(usable.map((sample) => sample.requests / sample.durationS)),
  };
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

const PACKAGES = [
  '@nestjs/core',
  '@nestjs/platform-express',
  'express',
  '@nestjs/platform-fastify',
  'fastify',
  'express-session',
  'connect-redis',
  'redis',
  'connect-pg-simple',
  'nestjs-session',
  '@fastify/session',
  '@fastify/cookie',
  'ioredis',
  'pg',
  'autocannon',
  'typescript',
];

function gitRevision(): string {
  try {
    const sha = execSync('git rev-parse --short HEAD', { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execSync('git status --porcelain -- libs/session/src', { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return dirty === '' ? sha : `${sha} + uncommitted changes in libs/session/src`;
  } catch {
    return 'unknown';
  }
}

/** The running case servers; module-level so the watchdog and the error path can kill them. */
let servers = new Map<string, CaseServer>();
/** Puts the services' CPU masks back; module-level for the same reason. */
let restoreServicePins = (): void => undefined;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const startedAt = Date.now();
  const deadline = startedAt + options.maxMinutes * 60_000;
  // Whatever happens, the bench ends: a hard stop a while after the soft deadline.
  const watchdog = setTimeout(
    () => {
      log('bench: hard time limit reached; stopping');
      for (const server of servers.values()) server.child.kill('SIGKILL');
      restoreServicePins();
      process.exit(2);
    },
    options.maxMinutes * 60_000 + 120_000,
  );
  watchdog.unref();

  const cpuList = cpus();
  const loadAtStart = loadavg()[0];
  const pinning = pinSelf(cpuList.length);
  log(`bench: ${pinning.note}`);
  const services = await findServices();
  const pinnedServices = pinServices(pinning);
  restoreServicePins = pinnedServices.restore;
  log(`bench: ${pinnedServices.note}`);
  const nearCache = redisStoreSupportsNearCache();
  const notes: string[] = [];
  if (!nearCache) notes.push('RedisStore has no `localCache` option in this tree: the near-cache case is left out.');

  let cases = allCases({ nearCache });
  if (options.cases !== undefined) {
    const wanted = new Set(options.cases);
    cases = cases.filter((bench) => bench.kind === 'bare' || bench.kind === 'reference' || wanted.has(bench.id));
  }
  for (const bench of [...cases]) {
    const missing = bench.needs.find((need) => (need === 'redis' ? !services.redisUrl : !services.databaseUrl));
    if (missing !== undefined) {
      notes.push(`${bench.id} left out: ${services.missing[missing] ?? `${missing} unavailable`}`);
      cases = cases.filter((other) => other !== bench);
    }
  }

  log(`bench: starting ${cases.length} servers`);
  const started = await startServers(cases, { services, pinning });
  servers = started.servers;
  for (const [id, reason] of started.failed) {
    notes.push(`${id} left out: its server did not start (${reason.split('\n')[0]})`);
    log(`bench: ${id} failed to start:\n${reason}`);
  }
  const cookies = new Map<string, string | undefined>();
  for (const [id, server] of servers) {
    try {
      cookies.set(id, await prepareSession(server));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      notes.push(`${id} left out: ${reason.split('\n')[0]}`);
      log(`bench: ${reason}`);
      await server.stop();
      servers.delete(id);
    }
  }
  cases = cases.filter((bench) => servers.has(bench.id));

  const pairs: { bench: BenchCase; route: Route }[] = cases.flatMap((bench) => ROUTES.map((route) => ({ bench, route })));
  const platforms = [...new Set(cases.map((bench) => bench.platform))];
  const groups = platforms.flatMap((platform) => ROUTES.map((route) => ({ platform, route })));
  const slicesPerRound = groups.reduce(
    (sum, { platform }) => sum + 2 * cases.filter((bench) => bench.kind !== 'bare' && bench.platform === platform).length + 1,
    0,
  );
  const samples: Sample[] = [];
  let roundsDone = 0;
  try {
    if (options.warmupS > 0) {
      log(`bench: warm-up, ${pairs.length} slices of ${options.warmupS} s`);
      for (const { bench, route } of pairs) {
        await runSlice(servers.get(bench.id)!, route, cookies.get(bench.id), options.warmupS);
      }
    }
    for (let round = 1; round <= options.rounds; round++) {
      if (Date.now() > deadline) {
        notes.push(`Stopped after ${roundsDone} of ${options.rounds} rounds: the ${options.maxMinutes}-minute limit was reached.`);
        break;
      }
      const roundStart = Date.now();
      for (const { platform, route } of shuffled(groups, round)) {
        const bare = cases.find((bench) => bench.kind === 'bare' && bench.platform === platform)!;
        const others = cases.filter((bench) => bench.kind !== 'bare' && bench.platform === platform);
        // bare, case, bare, case, …, bare: each case is compared with the bare slices on both sides.
        const measure = async (bench: BenchCase): Promise<Sample> => {
          const slice = await runSlice(servers.get(bench.id)!, route, cookies.get(bench.id), options.sliceS);
          const sample: Sample = {
            round,
            caseId: bench.id,
            route,
            requests: slice.requests,
            durationS: slice.durationS,
            p99Ms: slice.p99Ms,
            cpuUs: slice.cpuUs,
            failures: slice.failures + slice.misses,
            cacheHits: slice.cacheHits,
            cacheMisses: slice.cacheMisses,
          };
          samples.push(sample);
          return sample;
        };
        let before = await measure(bare);
        for (const bench of shuffled(others, round * 31 + ROUTES.indexOf(route))) {
          const sample = await measure(bench);
          const after = await measure(bare);
          sample.baseline = bracket(before, after);
          before = after;
        }
      }
      roundsDone = round;
      log(`bench: round ${round}/${options.rounds} done in ${((Date.now() - roundStart) / 1000).toFixed(1)} s`);
    }
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
    await cleanUpServices(services);
    restoreServicePins();
  }

  const results = aggregate(samples, cases);
  notes.push(...nearCacheNotes(samples));
  const checks = checkTargets(results, cases);
  const versions = packageVersions(PACKAGES);
  const elapsed = (Date.now() - startedAt) / 1000;
  const failures = results.filter((cell) => cell.failures > 0);
  if (failures.length > 0) {
    notes.push(
      `Failed responses or lost sessions in: ${failures.map((cell) => `${cell.caseId} ${cell.route} (${cell.failures})`).join(', ')}.`,
    );
  }

  const machine = [
    `- CPU: ${cpuList[0]?.model ?? 'unknown'}, ${cpuList.length} cores; ${pinning.note}`,
    `- Node ${process.version}, ${process.platform} ${release()}; load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end (other work on the machine shows here)`,
    `- Redis ${services.redisVersion ?? 'not used'}, PostgreSQL ${services.postgresVersion ?? 'not used'} (both on loopback); ${pinnedServices.note}`,
    `- Library at ${gitRevision()}`,
    `- Packages: ${Object.entries(versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}`,
  ].join('\n');

  const mode = options.quick ? 'quick' : 'full';
  const markdown = [
    `# Session layer benchmark (${mode} run)`,
    '',
    `${new Date(startedAt).toISOString()} · ${roundsDone} rounds × ${slicesPerRound} slices of ${options.sliceS} s ` +
      `(after ${options.warmupS} s warm-up each) · ${elapsed.toFixed(0)} s in all · \`npm run bench${options.quick ? ' -- --quick' : ''}\``,
    '',
    machine,
    '',
    'Each case is its own server process running the same minimal Nest 12 app. autocannon, 10 connections, ' +
      'loopback. `read`, `write` and `untouched` send the cookie of one session prepared by a `setup` request; ' +
      '`new` sends none. Server CPU is `process.cpuUsage()` (user + system, all threads) sampled around each ' +
      'slice, divided by the responses. Ratio and "+µs vs bare" compare each slice with the mean of the bare ' +
      'slices of the same platform and route run just before and just after it (each round runs bare, case, ' +
      'bare, case, …, bare); all figures are medians over the rounds. The Nest floor case is the bare app ' +
      "plus only what this library's shape needs from Nest (a global interceptor that passes the call on, " +
      'a custom parameter decorator, async handlers): what any interceptor-based session layer costs before it does any work.',
    '',
    '## Added server CPU per request over bare, µs (ratio of bare req/s)',
    '',
    '### Express',
    '',
    summaryMatrix(results, cases, 'express'),
    '',
    '### Fastify',
    '',
    summaryMatrix(results, cases, 'fastify'),
    '',
    '## Targets of issue 7',
    '',
    checks.length === 0 ? '(no target cases ran)' : targetsTable(checks, cases, results),
    '',
    '## Peers: this run against the figures in issue 7',
    '',
    peersTable(results, cases),
    '',
    '## All cases',
    '',
    resultsTable(results, cases),
    '',
    ...(notes.length === 0 ? [] : ['## Notes', '', ...notes.map((note) => `- ${note}`), '']),
  ].join('\n');

  process.stdout.write(`${markdown}\n`);
  if (options.out !== undefined) {
    writeFileSync(options.out, markdown);
    log(`bench: wrote ${path.relative(process.cwd(), options.out)}`);
  }
  clearTimeout(watchdog);
  process.exit(0);
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  for (const server of servers.values()) server.child.kill('SIGKILL');
  restoreServicePins();
  process.exit(1);
});
