#!/usr/bin/env node
// Pack check for @novanest/session: packs the library the way `npm publish` would and checks the
// tarball a user downloads, not the workspace. One line per check; a failure ends the run with a
// non-zero exit and one sentence saying what is wrong.
//
//   node test/package/check-pack.mjs [--out <dir>]
//
// The tarball stays in <dir> (default: a fresh temporary directory) and its path is printed last,
// as `tarball: <path>`; test/consumers/run.mjs imports `packAndCheck` and installs that tarball.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LIB = join(ROOT, 'libs/session');
const BIN = join(ROOT, 'node_modules/.bin');

// What a published tarball may hold: the compiled library and the files npm adds by itself.
const ALLOWED = [/^package\.json$/, /^(README|LICENSE|LICENCE|CHANGELOG)(\.md|\.txt)?$/i, /^dist\/.+\.(js|js\.map|d\.ts|sql)$/];
// Named reasons for the usual leaks, so the failure says what leaked rather than just "not allowed".
const FORBIDDEN = [
  [/(^|\/)src\//, 'TypeScript sources'],
  [/\.spec\.(js|d\.ts|js\.map)$|\.e2e-spec\./, 'specs'],
  [/\.tsbuildinfo$/, 'a tsbuildinfo file'],
  [/(^|\/)tsconfig[^/]*\.json$/, 'a tsconfig'],
  [/(^|\/)node_modules\//, 'node_modules'],
];
// Names of the library's internals that must stay out of the public entry points.
const INTERNAL_NAMES = ['SESSION_HANDLE', 'SessionManager', 'SessionHandle'];
// Drivers the core entry point must not need (they are optional peers for ./redis and ./postgres).
const DRIVERS = /^(ioredis|pg|pg-[\w-]+|@types\/(ioredis|pg))(\/|$)/;

class CheckFailed extends Error {}

function fail(sentence) {
  throw new CheckFailed(sentence);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** `npm pack` the workspace package (its prepack cleans and rebuilds dist) into `outDir`. */
function pack(outDir) {
  const result = run('npm', ['pack', '-w', '@novanest/session', '--pack-destination', outDir, '--json', '--silent'], { cwd: ROOT });
  if (result.status !== 0) fail(`npm pack failed (exit ${result.status}):\n${result.output}`);
  const json = result.output.slice(result.output.indexOf('['));
  const [info] = JSON.parse(json);
  return { tarball: join(outDir, info.filename), files: info.files.map((file) => file.path), size: info.size };
}

export function checkContents(files) {
  const forbidden = [];
  const unexpected = [];
  for (const file of files) {
    const reason = FORBIDDEN.find(([pattern]) => pattern.test(file));
    if (reason) forbidden.push(`${file} (${reason[1]})`);
    else if (!ALLOWED.some((pattern) => pattern.test(file))) unexpected.push(file);
  }
  if (forbidden.length > 0) fail(`The tarball holds files that must not ship: ${forbidden.join(', ')}.`);
  if (unexpected.length > 0) fail(`The tarball holds files that are not library files: ${unexpected.join(', ')}.`);
  // Every file the exports map, main and types point at must be in the tarball.
  const manifest = JSON.parse(readFileSync(join(LIB, 'package.json'), 'utf8'));
  const targets = new Set([manifest.main, manifest.types]);
  for (const target of Object.values(manifest.exports)) {
    for (const path of typeof target === 'string' ? [target] : Object.values(target)) targets.add(path);
  }
  const missing = [...targets].map((path) => path.replace(/^\.\//, '')).filter((path) => !files.includes(path));
  if (missing.length > 0) fail(`Files named by package.json are missing from the tarball: ${missing.join(', ')}.`);
  const absent = ['README', 'LICENSE', 'CHANGELOG'].filter((name) => !files.some((file) => file.toUpperCase().startsWith(name)));
  if (absent.length > 0) fail(`The tarball has no ${absent.join(', ')}: add them to libs/session (and CHANGELOG.md to "files").`);
}

function checkPublint(tarball) {
  // --strict turns warnings into errors; suggestions are printed but do not fail.
  const result = run(join(BIN, 'publint'), ['run', '--strict', tarball]);
  if (result.status !== 0) fail(`publint reports problems with the tarball:\n${result.output}`);
}

function checkAttw(tarball) {
  const result = run(join(BIN, 'attw'), [
    tarball,
    // node16: the package is ESM with an exports map and supports Node >= 20.19 only, so the
    // node10 resolution (no exports map: subpaths such as ./redis cannot resolve) is not a target.
    '--profile',
    'node16',
    // The package is ESM-only on purpose. A CommonJS app loads it with require(esm) (Node >= 20.19,
    // and TypeScript allows it under `module: nodenext` since 5.8); attw bundles an older TypeScript
    // and reports that as "CJS resolves to ESM". test/consumers/cjs-jest is the proof that it works.
    '--ignore-rules',
    'cjs-resolves-to-esm',
    // ./postgres.schema.sql is an asset (the SQL file to read and run), not a module with types.
    '--exclude-entrypoints',
    './postgres.schema.sql',
    '--format',
    'table-flipped',
  ]);
  if (result.status !== 0) fail(`@arethetypeswrong/cli reports problems with the types:\n${result.output}`);
}

function unpack(tarball, into) {
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', into]);
  return join(into, 'package');
}

/** Declarations tagged @internal in the library's sources: [source file, container, member]. */
function internalDeclarations() {
  const found = [];
  const sources = walk(join(LIB, 'src')).filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'));
  for (const file of sources) {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('@internal')) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'internal') && node.name) {
        const container = node.parent && ts.isClassLike(node.parent) && node.parent.name ? node.parent.name.text : undefined;
        found.push({ file: relative(join(LIB, 'src'), file), container, name: node.name.getText(source) });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** Names declared in a .d.ts: top-level declarations, and `Container.member` for class members. */
function declaredNames(dtsPath) {
  const source = ts.createSourceFile(dtsPath, readFileSync(dtsPath, 'utf8'), ts.ScriptTarget.Latest, true);
  const names = new Set();
  const visit = (node, container) => {
    if (node.name && (ts.isClassElement(node) || ts.isTypeElement(node))) names.add(`${container}.${node.name.getText(source)}`);
    else if (node.name && ts.isDeclarationStatement(node)) names.add(node.name.getText(source));
    if (ts.isVariableStatement(node)) node.declarationList.declarations.forEach((decl) => names.add(decl.name.getText(source)));
    const next = (ts.isClassLike(node) || ts.isInterfaceDeclaration(node)) && node.name ? node.name.text : container;
    ts.forEachChild(node, (child) => visit(child, next));
  };
  visit(source, undefined);
  return names;
}

/** The names each entry point exports, as the type checker sees them. */
function exportedNames(entries) {
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  return new Map(
    entries.map((entry) => {
      const symbol = checker.getSymbolAtLocation(program.getSourceFile(entry));
      return [entry, symbol ? checker.getExportsOfModule(symbol).map((exported) => exported.name) : []];
    }),
  );
}

export function checkInternalsStripped(pkg) {
  const dtsFiles = walk(join(pkg, 'dist')).filter((file) => file.endsWith('.d.ts'));
  const tagged = dtsFiles.filter((file) => readFileSync(file, 'utf8').includes('@internal'));
  if (tagged.length > 0) fail(`Packed .d.ts files still carry @internal members: ${tagged.map((file) => relative(pkg, file)).join(', ')}.`);

  const internals = internalDeclarations();
  for (const { file, container, name } of internals) {
    const dts = join(pkg, 'dist', file.replace(/\.ts$/, '.d.ts'));
    if (!existsSync(dts)) continue;
    const declared = declaredNames(dts);
    const qualified = container ? `${container}.${name}` : name;
    if (declared.has(qualified))
      fail(`${qualified} is marked @internal in src/${file} but is declared in the packed ${relative(pkg, dts)}.`);
  }

  const entries = ['index', 'redis', 'postgres'].map((name) => join(pkg, 'dist', `${name}.d.ts`));
  const indexText = readFileSync(entries[0], 'utf8');
  const inIndex = INTERNAL_NAMES.filter((name) => new RegExp(`\\b${name}\\b`).test(indexText));
  if (inIndex.length > 0) fail(`dist/index.d.ts mentions internal names: ${inIndex.join(', ')}.`);
  for (const [entry, names] of exportedNames(entries)) {
    const leaked = names.filter((name) => INTERNAL_NAMES.includes(name));
    if (leaked.length > 0) fail(`${relative(pkg, entry)} exports internal names: ${leaked.join(', ')}.`);
    if (names.length === 0) fail(`${relative(pkg, entry)} exports nothing as the type checker sees it; the check cannot be trusted.`);
  }
  return internals.map(({ container, name }) => (container ? `${container}.${name}` : name));
}

/** Module specifiers of a .js or .d.ts file (imports, exports, import() types, require, reference types), comments ignored. */
function specifiers(file) {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return [...info.importedFiles, ...info.typeReferenceDirectives].map((ref) => ref.fileName);
}

/** Follows the relative imports from `entry`; returns the bare specifiers the graph reaches. */
function bareImports(pkg, entry) {
  const seen = new Set();
  const bare = new Map();
  const queue = [join(pkg, entry)];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    if (!existsSync(file)) fail(`${relative(pkg, file)} is imported but is not in the tarball.`);
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith('.')) {
        let target = resolve(dirname(file), specifier);
        // A .d.ts imports its neighbours as './x.js'; the declarations are in './x.d.ts'.
        if (file.endsWith('.d.ts')) target = target.replace(/\.js$/, '.d.ts');
        queue.push(target);
      } else if (!bare.has(specifier)) {
        bare.set(specifier, relative(pkg, file).split(sep).join('/'));
      }
    }
  }
  return { files: seen.size, bare };
}

export function checkCoreGraph(pkg) {
  const lines = [];
  for (const entry of ['dist/index.d.ts', 'dist/index.js']) {
    const { files, bare } = bareImports(pkg, entry);
    const drivers = [...bare].filter(([specifier]) => DRIVERS.test(specifier));
    if (drivers.length > 0) {
      fail(`The core entry ${entry} reaches a driver: ${drivers.map(([specifier, from]) => `${specifier} (from ${from})`).join(', ')}.`);
    }
    lines.push(`${entry}: ${files} files, imports ${[...bare.keys()].sort().join(', ') || 'nothing bare'}`);
  }
  // Positive control: the same walk does find the drivers where they belong.
  for (const [entry, driver] of [
    ['dist/redis.d.ts', 'ioredis'],
    ['dist/postgres.d.ts', 'pg'],
  ]) {
    if (![...bareImports(pkg, entry).bare.keys()].some((specifier) => specifier === driver || specifier.startsWith(`${driver}/`))) {
      fail(`The import walk did not find ${driver} from ${entry}, so it cannot be trusted to find it from the core entry.`);
    }
  }
  return lines;
}

/** Packs and checks; returns the tarball path. Throws CheckFailed with one sentence on failure. */
export async function packAndCheck({ outDir, log = console.log } = {}) {
  const dir = outDir ?? mkdtempSync(join(tmpdir(), 'novanest-pack-'));
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const { tarball, files, size } = pack(dir);
  log(`ok   pack: ${tarball} (${files.length} files, ${(size / 1024).toFixed(0)} kB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  checkContents(files);
  log('ok   contents: only package.json, README, LICENSE, CHANGELOG and dist .js/.js.map/.d.ts/.sql; every exports target present');
  checkPublint(tarball);
  log('ok   publint --strict: no errors, no warnings');
  checkAttw(tarball);
  log('ok   attw --profile node16 (ignoring only cjs-resolves-to-esm; ./postgres.schema.sql is an asset): types resolve for every entry');
  const pkg = unpack(tarball, join(dir, 'unpacked'));
  const internals = checkInternalsStripped(pkg);
  log(`ok   internals stripped: no @internal in any .d.ts; absent: ${[...internals, ...INTERNAL_NAMES].join(', ')}`);
  for (const line of checkCoreGraph(pkg)) log(`ok   core graph: ${line}`);
  log(`ok   core graph: no ioredis, pg or their types (the walk finds them from dist/redis.d.ts and dist/postgres.d.ts)`);
  return tarball;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : undefined;
  try {
    const tarball = await packAndCheck({ outDir });
    console.log(`tarball: ${tarball}`);
  } catch (error) {
    if (!(error instanceof CheckFailed)) throw error;
    console.error(`FAIL ${error.message}`);
    process.exitCode = 1;
  }
}
