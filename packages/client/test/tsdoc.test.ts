/**
 * Every public export of @parley/client carries a TSDoc `@example` (issue 11).
 *
 * The TypeScript compiler loads each package entry (`.`, `./node`, `./browser`),
 * walks the symbols it exports (aliases resolved to their declarations) and
 * lists every export whose declarations have no `@example` tag; for an exported
 * class, also every public method and static method without one.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, '..', 'src');
const repoRoot = join(here, '..', '..', '..');

const ENTRIES = [
  { name: '@parley/client', file: join(src, 'index.ts') },
  { name: '@parley/client/node', file: join(src, 'index.node.ts') },
  { name: '@parley/client/browser', file: join(src, 'index.browser.ts') },
].filter((entry) => existsSync(entry.file));

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(repoRoot, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  return ts.parseJsonConfigFileContent(read.config, ts.sys, repoRoot).options;
}

/** True when a node's own JSDoc (or its statement's, for a variable) has an `@example` tag. */
function hasExample(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'example');
}

function isPublicMethod(member: ts.ClassElement): member is ts.MethodDeclaration {
  if (!ts.isMethodDeclaration(member)) return false;
  if (ts.isPrivateIdentifier(member.name)) return false;
  const flags = ts.getCombinedModifierFlags(member);
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0;
}

function memberName(member: ts.MethodDeclaration): string {
  return ts.isIdentifier(member.name) || ts.isStringLiteral(member.name) ? member.name.text : member.name.getText();
}

/** Class methods without `@example`, as `Class.method` / `Class.static method` (overloads: any signature counts). */
function methodsWithoutExample(cls: ts.ClassDeclaration, className: string): string[] {
  const byName = new Map<string, boolean>();
  for (const member of cls.members) {
    if (!isPublicMethod(member)) continue;
    const isStatic = (ts.getCombinedModifierFlags(member) & ts.ModifierFlags.Static) !== 0;
    const key = `${className}.${isStatic ? 'static ' : ''}${memberName(member)}`;
    byName.set(key, (byName.get(key) ?? false) || hasExample(member));
  }
  return [...byName].filter(([, ok]) => !ok).map(([key]) => key);
}

interface ExportReport {
  /** Every export name seen, `entry: name`. */
  readonly exports: readonly string[];
  /** Exports (and class methods) without `@example`, with where they are declared. */
  readonly missing: readonly string[];
}

/** Walks the package entries' exports with the compiler. */
function exportsWithoutExample(entries: readonly { name: string; file: string }[] = ENTRIES): ExportReport {
  const program = ts.createProgram({ rootNames: entries.map((e) => e.file), options: compilerOptions() });
  const checker = program.getTypeChecker();
  const exports: string[] = [];
  const missing: string[] = [];
  for (const entry of entries) {
    const sourceFile = program.getSourceFile(entry.file);
    if (sourceFile === undefined) throw new Error(`cannot load ${entry.file}`);
    const moduleSymbol = checker.getSymbolAtLocation(sourceFile);
    if (moduleSymbol === undefined) throw new Error(`${entry.file} is not a module`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const name = `${entry.name}: ${exported.name}`;
      exports.push(name);
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declarations = symbol.declarations ?? [];
      const where = declarations[0] === undefined ? '?' : relative(repoRoot, declarations[0].getSourceFile().fileName);
      if (declarations.length === 0 || !declarations.some(hasExample)) missing.push(`${name} (${where})`);
      for (const declaration of declarations) {
        if (!ts.isClassDeclaration(declaration)) continue;
        for (const method of methodsWithoutExample(declaration, exported.name)) missing.push(`${entry.name}: ${method} (${where})`);
      }
    }
  }
  return { exports, missing };
}

describe('TSDoc @example on every public export of @parley/client', () => {
  // One compiler program for both tests (building it takes seconds).
  let report: ExportReport | undefined;
  const walk = (): ExportReport => (report ??= exportsWithoutExample());

  it('finds the package entries and their exports', { timeout: 120_000 }, () => {
    const names = ENTRIES.map((e) => e.name);
    expect(names).toContain('@parley/client');
    expect(names).toContain('@parley/client/node');
    const { exports } = walk();
    // The walk really reaches classes, functions, constants and types through re-exports.
    for (const expected of ['Device', 'Sender', 'issueEnrollmentToken', 'CLIENT_ERROR_CODES', 'DeviceOptions', 'KeyStore']) {
      expect(exports).toContain(`@parley/client: ${expected}`);
    }
    expect(exports).toContain('@parley/client/node: FileKeyStore');
    expect(exports).toContain('@parley/client/node: nodeRuntime');
  });

  it('every export, and every public method of an exported class, has an @example', { timeout: 120_000 }, () => {
    const { missing } = walk();
    expect(missing, `exports without a TSDoc @example:\n${missing.join('\n')}`).toEqual([]);
  });

  it('reports an export, a re-export and a class method without @example (the check can fail)', { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-tsdoc-'));
    try {
      writeFileSync(
        join(dir, 'impl.ts'),
        [
          '/**',
          ' * Documented.',
          ' *',
          ' * @example',
          ' * new Widget().spin()',
          ' */',
          'export class Widget {',
          '  /**',
          '   * @example',
          '   * new Widget().spin()',
          '   */',
          '  spin(): void {}',
          '  /** No example here. */',
          '  stop(): void {}',
          '  private hidden(): void {}',
          '}',
          '/** No example here either. */',
          'export type Mode = "a" | "b";',
          '/**',
          ' * @example',
          ' * const n = answer',
          ' */',
          'export const answer = 42;',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'index.ts'), "export { Widget, type Mode, answer } from './impl.js';\nexport function bare(): void {}\n");
      const { exports, missing } = exportsWithoutExample([{ name: 'fixture', file: join(dir, 'index.ts') }]);
      expect(exports).toEqual(expect.arrayContaining(['fixture: Widget', 'fixture: Mode', 'fixture: answer', 'fixture: bare']));
      expect(missing.map((m) => m.replace(/ \(.*\)$/, '')).sort()).toEqual(['fixture: Mode', 'fixture: Widget.stop', 'fixture: bare']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
