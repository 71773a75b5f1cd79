import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Every ```ts block of the READMEs compiles as written: each one is type-checked on its own,
 * as a file of an ESM app at the root of this workspace, so `@novanest/session` (and its
 * `/redis` and `/postgres` entry points) resolve through the workspace link to the built package,
 * the one a user installs (`npm test` builds it first).
 *
 * Each snippet gets its own program because a `declare module '@novanest/session'` in one
 * snippet would otherwise change the types of every other. The files are never written to disk:
 * they exist only in the compiler host, at a path inside `test/`, so a crashed run leaves nothing
 * for `tsc` or ESLint to pick up. Parsed declaration files are shared between the programs.
 *
 * Relative links between the READMEs (the package README points into the repository's) must
 * reach an existing file and heading.
 *
 * A block that cannot be complete may be preceded by `<!-- snippet: skip -->` (on the line
 * right before its fence); prefer making it complete.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const READMES = ['README.md', 'libs/session/README.md'];
const SKIP_MARKER = '<!-- snippet: skip -->';
// The first program parses the lib files and Nest's declarations (about 5 s); later ones reuse them.
const COMPILE_TIMEOUT_MS = 30_000;

interface Snippet {
  /** README path relative to the repository root. */
  readme: string;
  /** 1-based README line of the snippet's first code line (the line after the fence). */
  line: number;
  code: string;
  skip: boolean;
}

function extractSnippets(readme: string): Snippet[] {
  const lines = readFileSync(path.join(root, readme), 'utf8').split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^\s*```(\S*)/.exec(lines[i]);
    if (fence === null) continue;
    const end = lines.findIndex((text, j) => j > i && text.trim() === '```');
    if (end === -1) throw new Error(`${readme}:${i + 1}: code fence never closed`);
    if (fence[1] === 'ts' || fence[1] === 'typescript') {
      snippets.push({
        readme,
        line: i + 2,
        code: lines.slice(i + 1, end).join('\n') + '\n',
        skip: lines[i - 1]?.trim() === SKIP_MARKER,
      });
    }
    i = end;
  }
  return snippets;
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = path.join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file));
  if (error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, configPath);
  // What an app's compiler sees; no vitest globals, nothing written.
  return { ...options, types: ['node'], noEmit: true, incremental: false, tsBuildInfoFile: undefined };
}

const options = compilerOptions();
const sharedSourceFiles = new Map<string, ts.SourceFile>();

/** Type-checks one snippet as `fileName` (a path that exists only in memory) and returns its diagnostics. */
function check(fileName: string, code: string): readonly ts.Diagnostic[] {
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => file === fileName || fileExists.call(host, file);
  host.readFile = (file) => (file === fileName ? code : readFile.call(host, file));
  host.getSourceFile = (file, languageVersion, onError, shouldCreate) => {
    if (file === fileName) return ts.createSourceFile(file, code, languageVersion, true);
    const key = `${file}\0${JSON.stringify(languageVersion)}`;
    let sourceFile = sharedSourceFiles.get(key);
    if (sourceFile === undefined) {
      sourceFile = getSourceFile.call(host, file, languageVersion, onError, shouldCreate);
      if (sourceFile !== undefined) sharedSourceFiles.set(key, sourceFile);
    }
    return sourceFile;
  };
  return ts.getPreEmitDiagnostics(ts.createProgram({ rootNames: [fileName], options, host }));
}

/** One line per diagnostic, located in the README when it is in the snippet. */
function describeDiagnostic(diagnostic: ts.Diagnostic, fileName: string, snippet: Snippet): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
  if (diagnostic.file === undefined || diagnostic.start === undefined) return `${snippet.readme}:${snippet.line}: ${message}`;
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
  if (diagnostic.file.fileName !== fileName) return `${diagnostic.file.fileName}:${line + 1}:${character + 1}: ${message}`;
  return `${snippet.readme}:${snippet.line + line}:${character + 1}: ${message}`;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Relative links to Markdown files (with an optional `#anchor`) that lead nowhere. */
function brokenLinks(readme: string): string[] {
  const text = readFileSync(path.join(root, readme), 'utf8');
  const broken: string[] = [];
  for (const [, target] of text.matchAll(/\]\(([^)\s]+\.md(?:#[^)\s]*)?)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    const [file, anchor] = target.split('#');
    const linked = path.resolve(path.dirname(path.join(root, readme)), file);
    if (!existsSync(linked)) {
      broken.push(`${readme}: ${target} (no such file)`);
      continue;
    }
    const anchors = [...readFileSync(linked, 'utf8').matchAll(/^#+\s+(.*)$/gm)].map(([, heading]) => headingAnchor(heading));
    if (anchor !== undefined && !anchors.includes(anchor)) broken.push(`${readme}: ${target} (no such heading)`);
  }
  return broken;
}

const snippets = READMES.flatMap(extractSnippets);
const cases = (skip: boolean) =>
  snippets.filter((snippet) => snippet.skip === skip).map((snippet) => [`${snippet.readme}:${snippet.line}`, snippet] as const);

describe('README snippets and links', () => {
  it('finds the snippets of every README', () => {
    for (const readme of READMES) expect(snippets.filter((snippet) => snippet.readme === readme).length).toBeGreaterThan(0);
  });

  it('links only to files and headings that exist', () => {
    expect(READMES.flatMap(brokenLinks)).toEqual([]);
  });

  it.skip.each(cases(true))('%s (marked skip)', () => {});

  it.each(cases(false))(
    '%s compiles',
    (_title, snippet) => {
      const fileName = path.join(root, 'test', `readme-snippet.${snippet.readme.replaceAll('/', '-')}.${snippet.line}.ts`);
      const problems = check(fileName, snippet.code).map((diagnostic) => describeDiagnostic(diagnostic, fileName, snippet));
      expect(problems, `the snippet at ${snippet.readme}:${snippet.line} does not compile`).toEqual([]);
    },
    COMPILE_TIMEOUT_MS,
  );
});
