/**
 * Every export of the DLP module (src/dlp/index.ts, re-exported by the package entry) and
 * ContentBlockedError carry a TSDoc `@example`, as packages/client/test/tsdoc.test.ts requires
 * of every public export — checked here before the package entry exports them.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..', '..');
const entry = join(here, '..', '..', 'src', 'dlp', 'index.ts');
const errors = join(here, '..', '..', 'src', 'errors.ts');

it('every DLP export has an @example', { timeout: 120_000 }, () => {
  const read = ts.readConfigFile(join(repoRoot, 'tsconfig.json'), (path) => ts.sys.readFile(path));
  const options = ts.parseJsonConfigFileContent(read.config, ts.sys, repoRoot).options;
  const program = ts.createProgram({ rootNames: [entry, errors], options });
  const checker = program.getTypeChecker();
  const exportsOf = (file: string): ts.Symbol[] => {
    const source = program.getSourceFile(file);
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (module === undefined) throw new Error(`cannot load ${file}`);
    return checker.getExportsOfModule(module);
  };
  const symbols = [...exportsOf(entry), ...exportsOf(errors).filter((s) => s.name === 'ContentBlockedError')];
  const missing = symbols
    .filter((exported) => {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      return !(symbol.declarations ?? []).some((d) => ts.getJSDocTags(d).some((tag) => tag.tagName.text === 'example'));
    })
    .map((s) => s.name);
  expect(symbols.length).toBeGreaterThan(25);
  expect(missing).toEqual([]);
});
