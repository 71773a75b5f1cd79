import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where `nest build demo` puts the demo's modules. */
export const DEMO_DIST = path.join(ROOT, 'dist/demo/src');
const APP_MODULE = path.join(DEMO_DIST, 'app.module.js');
/** Held while one suite builds, so suites in parallel workers never build (and delete) at once. */
const LOCK = path.join(ROOT, 'dist/.demo-build.lock');
const LOCK_WAIT_MS = 120_000;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (/\.(ts|js|sql)$/.test(entry.name) && !entry.name.endsWith('.spec.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

function isFresh(): boolean {
  const sources = Math.max(
    newestMtime(path.join(ROOT, 'src')),
    newestMtime(path.join(ROOT, 'libs/session/dist')),
    statSync(path.join(ROOT, 'tsconfig.build.json')).mtimeMs,
  );
  return existsSync(APP_MODULE) && statSync(APP_MODULE).mtimeMs >= sources;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds the demo (`nest build demo`) when `dist/demo` is missing or older than any source
 * file, for the suites that run it in child processes (multi-node, atomic updates).
 */
export function ensureDemoBuilt(): void {
  if (isFresh()) return;
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`Another suite has held ${LOCK} for 2 minutes; remove it if no build is running.`);
      sleepSync(200);
    }
  }
  try {
    if (isFresh()) return;
    const nest = createRequire(import.meta.url).resolve('@nestjs/cli/bin/nest.js');
    const built = spawnSync(process.execPath, [nest, 'build', 'demo'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0 || !existsSync(APP_MODULE)) {
      throw new Error(`Building the demo (nest build demo) failed:\n${built.stdout}\n${built.stderr}`);
    }
  } finally {
    rmdirSync(LOCK);
  }
}
