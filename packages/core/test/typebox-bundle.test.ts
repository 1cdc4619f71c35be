/**
 * The built `@parley/core/typebox` (dist/typebox.js, written by scripts/bundle-typebox.mjs) is ONE
 * module that imports nothing, exports what src/typebox.ts exports, carries TypeBox's licence,
 * and validates like the package it bundles. Every other test runs the sources (the
 * `parley-source` condition), so this is the check that the file a server or an installed SDK
 * loads works. Skipped with a note when the package has not been built.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as source from '../src/typebox.js';

const BUNDLE = fileURLToPath(new URL('../dist/typebox.js', import.meta.url));
const built = existsSync(BUNDLE);
if (!built) console.log('typebox-bundle: packages/core/dist/typebox.js is not built (npm run build); skipped');

interface Bundle {
  readonly Type: typeof source.Type;
  readonly Compile: typeof source.Compile;
}

describe.skipIf(!built)('the bundled TypeBox (dist/typebox.js)', () => {
  const text = built ? readFileSync(BUNDLE, 'utf8') : '';
  const load = async () => (await import(pathToFileURL(BUNDLE).href)) as Bundle;

  it('is one module: no import of any kind, TypeBox licence at the top', () => {
    expect(text).not.toMatch(/^\s*import[\s{*]/m);
    expect(text).not.toMatch(/^\s*export[^\n]*\bfrom\s*['"]/m);
    expect(text).not.toMatch(/\bimport\s*\(/);
    expect(text).not.toMatch(/\brequire\s*\(/);
    expect(text.slice(0, 2_000)).toMatch(/typebox \d+\.\d+\.\d+/);
    expect(text.slice(0, 2_000)).toContain('Permission is hereby granted, free of charge');
  });

  it('exports exactly what src/typebox.ts exports', async () => {
    expect(Object.keys(await load()).sort()).toEqual(Object.keys(source).sort());
  });

  it('builds and compiles schemas that accept and refuse what the sources do', async () => {
    const bundle = await load();
    const make = (t: Bundle) =>
      t.Compile(
        t.Type.Object(
          { id: t.Type.String({ pattern: '^[0-9]{1,19}$' }), tags: t.Type.Array(t.Type.String({ maxLength: 3 }), { maxItems: 2 }), n: t.Type.Optional(t.Type.Integer({ minimum: 0 })) },
          { additionalProperties: false },
        ),
      );
    const fromBundle = make(bundle);
    const fromSource = make(source);
    const cases: unknown[] = [
      { id: '17', tags: [] },
      { id: '17', tags: ['abc'], n: 3 },
      { id: 'x', tags: [] },
      { id: '17', tags: ['abcd'] },
      { id: '17', tags: ['a', 'b', 'c'] },
      { id: '17', tags: [], n: -1 },
      { id: '17', tags: [], n: 1.5 },
      { id: '17', tags: [], extra: true },
      null,
      [],
    ];
    const verdicts = cases.map((c) => fromBundle.Check(c));
    expect(verdicts).toEqual(cases.map((c) => fromSource.Check(c)));
    expect(verdicts).toEqual([true, true, false, false, false, false, false, false, false, false]);
  });
});
