#!/usr/bin/env node
// Consumer proof: two fresh Nest 12 apps (test/consumers/esm-vitest, test/consumers/cjs-jest)
// install the packed @novanest/session like any user and run their own tests against it.
//
//   node test/consumers/run.mjs [--tarball <path>] [--keep]
//
// Without --tarball it packs and checks the library first (test/package/check-pack.mjs). Each app
// is copied to a fresh temporary directory, installed with `npm ci` from its committed lockfile
// plus `npm install --no-save <tarball>`, then:
//   Node 20 (this node): ESM app: build, type-check, vitest e2e (Express + Fastify);
//                        CJS app: build, type-check, boot dist/main.js, a login / guarded /
//                        logout round of real HTTP requests. (Jest cannot run the CJS starter on
//                        Node 20: Nest 12 is ESM-only and jest can require() ESM only on >= 24.9.)
//   Node 24 (`npx -y -p node@24`, put first on PATH): ESM app: vitest e2e; CJS app: jest e2e.
// Prints a summary per app per Node version; exits non-zero on any failure. --keep leaves the
// temporary copies in place for a look after the run.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packAndCheck } from '../package/check-pack.mjs';
import { httpRound } from './http-round.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
// Packages that the core entry point must not need: no app installs them.
const DRIVERS = ['ioredis', 'pg', '@types/pg', '@types/ioredis'];
const MINUTE = 60_000;

const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const keep = args.includes('--keep');
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'novanest-consumers-'));
const results = [];

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** Runs a command; resolves with its exit code and output (kept in a log file). */
function exec(command, commandArgs, { cwd, env = process.env, timeout = 5 * MINUTE, log }) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, commandArgs, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n[run.mjs] killed after ${timeout / 1000} s`;
      child.kill('SIGKILL');
    }, timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (log) writeFileSync(log, output);
      resolvePromise({ code: code ?? signal, output });
    });
  });
}

/** Records one step; a thrown error or a non-zero exit is a failure with the output's tail. */
async function step(app, node, name, action) {
  const since = Date.now();
  const logFile = join(work, `${app}.node${node}.${name.replace(/\W+/g, '-')}.log`);
  let failure;
  let detail = '';
  try {
    const result = await action(logFile);
    if (result && typeof result.code !== 'undefined' && result.code !== 0) {
      failure = `exit ${result.code}`;
      detail = result.output;
    } else if (result?.note) {
      detail = result.note;
    } else if (result?.output) {
      // The test runners' count lines ("Tests  7 passed (7)", "Tests:       4 passed, 4 total").
      detail = plain(result.output)
        .split('\n')
        .filter((line) => /^\s*Tests:?\s+\d+ passed/.test(line))
        .map((line) => line.trim())
        .join('\n');
    }
  } catch (error) {
    failure = error.message;
    detail = error.output ?? '';
  }
  const entry = { app, node, name, ok: !failure, time: seconds(since) };
  results.push(entry);
  console.log(`${entry.ok ? 'ok  ' : 'FAIL'} ${app} node${node} ${name} (${entry.time})${failure ? `: ${failure}` : ''}`);
  if (failure && detail) console.log(indent(tail(detail, 40)));
  else if (detail && entry.ok) console.log(indent(detail));
  return entry.ok;
}

function skip(app, node, name, reason) {
  results.push({ app, node, name, ok: false, time: '-', skipped: reason });
  console.log(`SKIP ${app} node${node} ${name}: ${reason}`);
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const plain = (text) => text.replace(ANSI, '');
const tail = (text, lines) => text.trim().split('\n').slice(-lines).join('\n');
const indent = (text) =>
  text
    .split('\n')
    .map((line) => `     | ${line}`)
    .join('\n');

function nodeEnv(nodeDir) {
  // CI=true keeps vitest and jest from watch mode and colour; FORCE_COLOR=0 keeps logs readable.
  const PATH = nodeDir ? `${nodeDir}${delimiter}${process.env.PATH}` : process.env.PATH;
  return { ...process.env, PATH, CI: 'true', FORCE_COLOR: '0', NO_COLOR: '1' };
}

/**
 * Runs an app's e2e script and checks that the session suites really ran (by their titles), so
 * a runner that finds no tests, or skips a platform, cannot pass.
 */
async function testRun(dir, env, logFile, script, titles) {
  const result = await exec('npm', ['run', script.name, '--', ...script.args], { cwd: dir, env, log: logFile });
  if (result.code !== 0) return result;
  const text = plain(result.output);
  const missing = titles.filter((title) => !text.includes(title));
  if (missing.length > 0)
    throw Object.assign(new Error(`the run passed but did not run: ${missing.join('; ')}`), { output: result.output });
  return result;
}

const VITEST_E2E = { name: 'test:e2e', args: ['--reporter=verbose'] };
const VITEST_TITLES = ['Sessions from @novanest/session on express', 'Sessions from @novanest/session on fastify'];
const JEST_E2E = { name: 'test:e2e', args: ['--verbose'] };
const JEST_TITLES = ['Sessions from @novanest/session (e2e)', 'logs in with a new session id, reads the guarded route, logs out'];

/** Copies an app (without node_modules or dist) into the work directory. */
function copyApp(app) {
  const target = join(work, app);
  cpSync(join(HERE, app), target, {
    recursive: true,
    filter: (source) => !['node_modules', 'dist', 'coverage'].includes(basename(source)) && !source.endsWith('.tsbuildinfo'),
  });
  return target;
}

async function install(dir, tarball, logFile) {
  const packageJson = readFileSync(join(dir, 'package.json'), 'utf8');
  const lock = readFileSync(join(dir, 'package-lock.json'), 'utf8');
  const ci = await exec('npm', ['ci', ...NPM_FLAGS], { cwd: dir, timeout: 10 * MINUTE, log: logFile });
  if (ci.code !== 0) return ci;
  const add = await exec('npm', ['install', '--no-save', ...NPM_FLAGS, tarball], {
    cwd: dir,
    timeout: 5 * MINUTE,
    log: `${logFile}.tarball`,
  });
  if (add.code !== 0) return add;
  const installed = join(dir, 'node_modules/@novanest/session/package.json');
  if (!existsSync(installed)) throw new Error('@novanest/session is not in node_modules after installing the tarball');
  const lockEntry = JSON.parse(readFileSync(join(dir, 'node_modules/.package-lock.json'), 'utf8')).packages[
    'node_modules/@novanest/session'
  ];
  if (!lockEntry?.resolved?.endsWith('.tgz'))
    throw new Error(`@novanest/session was not installed from the tarball (resolved: ${lockEntry?.resolved})`);
  if (readFileSync(join(dir, 'package.json'), 'utf8') !== packageJson || readFileSync(join(dir, 'package-lock.json'), 'utf8') !== lock) {
    throw new Error('installing the tarball changed package.json or package-lock.json');
  }
  const present = DRIVERS.filter(
    (name) => existsSync(join(dir, 'node_modules', name)) || existsSync(join(dir, 'node_modules/@novanest/session/node_modules', name)),
  );
  if (present.length > 0) throw new Error(`the app must not have ${present.join(', ')} installed (the core entry must work without them)`);
  return { code: 0, note: `@novanest/session from ${basename(lockEntry.resolved)}; none of ${DRIVERS.join(', ')} installed` };
}

/**
 * `tsc --noEmit --skipLibCheck false`: the starter's skipLibCheck would hide a library .d.ts that
 * imports a missing module (ioredis, pg), so the library's declarations are checked too. Errors in
 * other packages' declarations are not this test's business and are reported, not failed.
 */
async function typecheck(dir, env, logFile) {
  const result = await exec('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json', '--noEmit', '--skipLibCheck', 'false'], {
    cwd: dir,
    env,
    log: logFile,
  });
  if (result.code === 0) return { code: 0, note: 'no errors, library .d.ts files included (skipLibCheck false)' };
  const errors = result.output.split('\n').filter((line) => /error TS\d+/.test(line));
  const ours = errors.filter((line) => !line.startsWith('node_modules/') || line.startsWith('node_modules/@novanest/session/'));
  if (ours.length > 0 || errors.length === 0) return result;
  return {
    code: 0,
    note: `no errors in the app or @novanest/session; ${errors.length} in other packages' .d.ts ignored:\n${errors.slice(0, 5).join('\n')}`,
  };
}

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/** Boots `node dist/main.js` with PORT set, runs the HTTP round, stops the server. */
async function bootAndRound(dir, env, logFile) {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: dir,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolvePromise) => child.on('exit', (code, signal) => resolvePromise(code ?? signal)));
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + MINUTE;
    for (;;) {
      if (child.exitCode !== null)
        throw Object.assign(new Error(`dist/main.js exited with ${child.exitCode} before listening`), { output });
      try {
        await fetch(base);
        break;
      } catch {
        if (Date.now() > deadline) throw Object.assign(new Error('dist/main.js did not listen within 60 s'), { output });
        await new Promise((resolveDelay) => setTimeout(resolveDelay, 200));
      }
    }
    const checked = await httpRound(base);
    return { code: 0, note: checked.join('\n') };
  } catch (error) {
    error.output ??= output;
    throw error;
  } finally {
    child.kill('SIGTERM');
    await exited;
    writeFileSync(logFile, output);
  }
}

async function node24Dir() {
  // The registry's `node` package ships the Node binaries; npx caches it after the first run.
  const result = await exec('npx', ['-y', '-p', 'node@24', 'node', '-p', 'process.execPath'], { cwd: work, timeout: 5 * MINUTE });
  if (result.code !== 0) throw Object.assign(new Error('npx -y -p node@24 failed'), { output: result.output });
  return dirname(result.output.trim().split('\n').pop());
}

async function versionOf(env) {
  const result = await exec('node', ['-v'], { cwd: work, env });
  return result.output.trim();
}

async function main() {
  console.log(`work directory: ${work}`);
  let tarball = option('--tarball');
  if (tarball) {
    tarball = resolve(tarball);
    if (!existsSync(tarball)) throw new Error(`--tarball ${tarball} does not exist`);
    console.log(`tarball: ${tarball} (given)`);
  } else {
    console.log('packing and checking the library (test/package/check-pack.mjs):');
    tarball = await packAndCheck({ outDir: join(work, 'pack'), log: (line) => console.log(`  ${line}`) });
  }

  const since24 = Date.now();
  const dir24 = await node24Dir();
  const env20 = nodeEnv();
  const env24 = nodeEnv(dir24);
  const [v20, v24] = [await versionOf(env20), await versionOf(env24)];
  console.log(`node: ${v20} (${process.execPath}) and ${v24} (${dir24}, resolved in ${seconds(since24)})`);
  if (!v24.startsWith('v24.')) throw new Error(`expected Node 24 from npx -p node@24, got ${v24}`);

  // ESM + vitest: the Nest 12 default.
  {
    const app = 'esm-vitest';
    const dir = copyApp(app);
    if (await step(app, 20, 'install', (log) => install(dir, tarball, log))) {
      const built = await step(app, 20, 'build', (log) => exec('npm', ['run', 'build'], { cwd: dir, env: env20, log }));
      if (built) await step(app, 20, 'typecheck', (log) => typecheck(dir, env20, log));
      else skip(app, 20, 'typecheck', 'build failed');
      await step(app, 20, 'vitest e2e (express, fastify)', (log) => testRun(dir, env20, log, VITEST_E2E, VITEST_TITLES));
      await step(app, 24, 'vitest e2e (express, fastify)', (log) => testRun(dir, env24, log, VITEST_E2E, VITEST_TITLES));
    }
  }

  // CJS + jest: the library (ESM-only) is loaded through require(esm).
  {
    const app = 'cjs-jest';
    const dir = copyApp(app);
    if (await step(app, 20, 'install', (log) => install(dir, tarball, log))) {
      const built = await step(app, 20, 'build', (log) => exec('npm', ['run', 'build'], { cwd: dir, env: env20, log }));
      if (built) {
        await step(app, 20, 'typecheck', (log) => typecheck(dir, env20, log));
        await step(app, 20, 'boot dist/main.js + HTTP round', (log) => bootAndRound(dir, env20, log));
      } else {
        skip(app, 20, 'typecheck', 'build failed');
        skip(app, 20, 'boot dist/main.js + HTTP round', 'build failed');
      }
      await step(app, 24, 'jest e2e', (log) => testRun(dir, env24, log, JEST_E2E, JEST_TITLES));
    }
  }
}

let crashed;
try {
  mkdirSync(work, { recursive: true });
  await main();
} catch (error) {
  crashed = error;
  console.log(`FAIL ${error.message}`);
  if (error.output) console.log(indent(tail(error.output, 40)));
}

console.log('\nsummary:');
for (const app of [...new Set(results.map((result) => result.app))]) {
  for (const node of [20, 24]) {
    const steps = results.filter((result) => result.app === app && result.node === node);
    if (steps.length === 0) continue;
    const failed = steps.filter((result) => !result.ok);
    const line = steps.map((result) => `${result.name} ${result.ok ? 'ok' : result.skipped ? 'skipped' : 'FAILED'}`).join(', ');
    console.log(`  ${failed.length === 0 ? 'PASS' : 'FAIL'} ${app} on Node ${node}: ${line}`);
  }
}
const failures = results.filter((result) => !result.ok).length + (crashed ? 1 : 0);
// Removing the two installed copies takes a while on a busy machine; it counts in the total.
if (keep || failures > 0) console.log(`logs and app copies kept in ${work}`);
else rmSync(work, { recursive: true, force: true });
console.log(`${failures === 0 ? 'all consumer checks passed' : `${failures} consumer check(s) failed`} in ${seconds(started)}`);
process.exitCode = failures === 0 ? 0 : 1;
