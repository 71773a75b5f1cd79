/**
 * `npm run bench:profile -- --case novanest-memory@express --route read [--seconds 6]`
 *
 * Runs the case and the bare app of its platform (or `--baseline nest-floor`), each with `node --cpu-prof`, loads one route
 * (warm-up first), stops the servers so V8 writes the profiles, and keeps only the samples
 * taken while the measured load ran. Prints, per request, where the server's CPU time goes
 * (self time by library file / package / Node module, the case beside bare), the functions
 * with the most self time, and the inclusive time of this library's functions. Writes the
 * summary to bench/profiles/<case>-<route>.md and keeps the raw .cpuprofile files beside it
 * (open them in Chrome DevTools or speedscope).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { type Route, ROUTES, parseCaseId } from './cases.js';
import { findServices, pinSelf, pinServices, prepareSession, repoRoot, runSlice, startServer } from './harness.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives, coarse: a library file, a package, a Node module, or V8 itself. */
export function locationOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (program), (idle)
    return '(native / V8 builtins)';
  }
  const lib = /\/(?:libs\/session|@novanest\/session)\/dist\/(.+?)\.js$/.exec(url);
  if (lib !== null) return `novanest ${lib[1]}`;
  if (url.includes('/bench/')) return 'bench app';
  const modules = url.lastIndexOf('node_modules/');
  if (modules !== -1) {
    const packageMatch = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url.slice(modules));
    if (packageMatch !== null) return packageMatch[1];
  }
  if (url.startsWith('node:')) return url;
  return url;
}

export interface ProfileSummary {
  /** µs of samples in the window. */
  totalUs: number;
  byLocation: Map<string, number>;
  byFunction: Map<string, number>;
  /** Inclusive time of this library's functions (each counted once per sample). */
  libraryInclusive: Map<string, number>;
}

/** Self and inclusive times of the samples taken between `fromUs` and `toUs` (profile clock). */
export function summarize(profile: CpuProfile, fromUs: number, toUs: number): ProfileSummary {
  const nodes = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    nodes.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const summary: ProfileSummary = { totalUs: 0, byLocation: new Map(), byFunction: new Map(), libraryInclusive: new Map() };
  const add = (map: Map<string, number>, key: string, us: number): void => {
    map.set(key, (map.get(key) ?? 0) + us);
  };
  let time = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i];
    // A sample stands for the interval up to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (time < fromUs || time > toUs) continue;
    const node = nodes.get(profile.samples[i]);
    if (node === undefined) continue;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') continue;
    summary.totalUs += us;
    add(summary.byLocation, locationOf(frame), us);
    const where = frame.url === '' ? '' : ` ${path.basename(frame.url)}:${frame.lineNumber + 1}`;
    add(summary.byFunction, `${frame.functionName || '(anonymous)'}${where} [${locationOf(frame)}]`, us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const ancestor = nodes.get(id)!.callFrame;
      if (!/\/(?:libs\/session|@novanest\/session)\/dist\//.test(ancestor.url)) continue;
      const key = `${ancestor.functionName || '(anonymous)'} ${path.basename(ancestor.url)}:${ancestor.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      add(summary.libraryInclusive, key, us);
    }
  }
  return summary;
}

function top(map: Map<string, number>, count: number): [string, number][] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
}

function parseArgs(argv: readonly string[]): { caseId: string; route: Route; seconds: number; baseline: string } {
  let caseId = 'novanest-memory@express';
  let route: Route = 'read';
  let seconds = 6;
  let baseline = 'bare';
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === '--case' && next !== undefined) caseId = argv[++i];
    else if (argv[i] === '--route' && next !== undefined && (ROUTES as readonly string[]).includes(next)) route = argv[++i] as Route;
    else if (argv[i] === '--seconds' && next !== undefined) seconds = Number(argv[++i]);
    else if (argv[i] === '--baseline' && next !== undefined) baseline = argv[++i];
    else {
      throw new Error(
        `unknown or incomplete option ${argv[i]}: --case <id> --route <${ROUTES.join('|')}> --seconds <n> --baseline <bare|nest-floor>`,
      );
    }
  }
  return { caseId, route, seconds, baseline };
}

async function profileOne(
  caseId: string,
  route: Route,
  seconds: number,
  dir: string,
  context: { services: Awaited<ReturnType<typeof findServices>>; pinning: ReturnType<typeof pinSelf> },
): Promise<{ summary: ProfileSummary; requests: number; cpuUs: number; file: string }> {
  const caseDir = path.join(dir, caseId.replace(/[@/]/g, '_'));
  rmSync(caseDir, { recursive: true, force: true });
  mkdirSync(caseDir, { recursive: true });
  const server = await startServer(parseCaseId(caseId), {
    ...context,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${caseDir}`],
  });
  let slice;
  try {
    const cookie = await prepareSession(server);
    await runSlice(server, route, cookie, 2); // warm-up
    slice = await runSlice(server, route, cookie, seconds);
  } finally {
    await server.stop();
  }
  const file = readdirSync(caseDir).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`${caseId}: no .cpuprofile written in ${caseDir}`);
  const profile = JSON.parse(readFileSync(path.join(caseDir, file), 'utf8')) as CpuProfile;
  return {
    summary: summarize(profile, slice.startMonoUs, slice.endMonoUs),
    requests: slice.requests,
    cpuUs: slice.cpuUs,
    file: path.join(caseDir, file),
  };
}

async function main(): Promise<void> {
  const { caseId, route, seconds, baseline } = parseArgs(process.argv.slice(2));
  const bench = parseCaseId(caseId);
  const bareId = parseCaseId(`${baseline}@${bench.platform}`).id;
  const pinning = pinSelf(cpus().length);
  const services = await findServices();
  const dir = path.join(repoRoot(), 'bench', 'profiles');
  const context = { services, pinning };
  const pinnedServices = pinServices(pinning);
  let bare, own;
  try {
    bare = await profileOne(bareId, route, seconds, dir, context);
    own = await profileOne(caseId, route, seconds, dir, context);
  } finally {
    pinnedServices.restore();
  }

  const perRequest = (us: number, requests: number): string => (us / requests).toFixed(1);
  const lines: string[] = [];
  lines.push(`# CPU profile: ${caseId}, route ${route}`, '');
  lines.push(
    `${seconds} s of load after a 2 s warm-up, \`--cpu-prof\` (1 ms sampling), samples cut to the measured window. ` +
      `Per request: ${caseId} ${perRequest(own.summary.totalUs, own.requests)} µs sampled ` +
      `(${perRequest(own.cpuUs, own.requests)} µs process CPU, all threads), ${bareId} ` +
      `${perRequest(bare.summary.totalUs, bare.requests)} µs sampled (${perRequest(bare.cpuUs, bare.requests)} µs process CPU). ` +
      'The sampled time is the JavaScript thread only (GC shows as "(garbage collector)").',
    '',
  );
  lines.push('## Self time by location, µs per request', '');
  lines.push(`| location | this case | ${baseline} | difference |`, '|:--|--:|--:|--:|');
  const locations = new Set([...own.summary.byLocation.keys(), ...bare.summary.byLocation.keys()]);
  const rows = [...locations].map((location) => {
    const mine = (own.summary.byLocation.get(location) ?? 0) / own.requests;
    const theirs = (bare.summary.byLocation.get(location) ?? 0) / bare.requests;
    return { location, mine, theirs, diff: mine - theirs };
  });
  rows.sort((a, b) => b.diff - a.diff);
  for (const row of rows.filter((r) => Math.abs(r.diff) >= 0.3 || r.mine >= 2)) {
    lines.push(
      `| ${row.location} | ${row.mine.toFixed(1)} | ${row.theirs.toFixed(1)} | ${row.diff >= 0 ? '+' : ''}${row.diff.toFixed(1)} |`,
    );
  }
  lines.push('', '## Functions with the most self time (this case), µs per request', '');
  lines.push('| function | µs/req |', '|:--|--:|');
  for (const [name, us] of top(own.summary.byFunction, 30)) lines.push(`| \`${name}\` | ${perRequest(us, own.requests)} |`);
  lines.push('', '## This library, inclusive time per function (synchronous stacks), µs per request', '');
  lines.push('| function | µs/req |', '|:--|--:|');
  for (const [name, us] of top(own.summary.libraryInclusive, 25)) lines.push(`| \`${name}\` | ${perRequest(us, own.requests)} |`);
  lines.push('', `Raw profiles: \`${path.relative(repoRoot(), own.file)}\`, \`${path.relative(repoRoot(), bare.file)}\``, '');
  const markdown = lines.join('\n');
  process.stdout.write(markdown);
  const suffix = baseline === 'bare' ? '' : `-vs-${baseline}`;
  const out = path.join(dir, `${caseId.replace(/[@/]/g, '_')}-${route}${suffix}.md`);
  writeFileSync(out, markdown);
  process.stderr.write(`\nprofile: wrote ${path.relative(process.cwd(), out)}\n`);
  process.exit(0);
}

if (process.argv[1]?.endsWith('profile.js')) {
  main().catch((error: unknown) => {
    process.stderr.write(`profile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
