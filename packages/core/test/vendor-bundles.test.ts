/**
 * Core's two vendor modules as built (scripts/bundle-vendor.mjs): `@parley/core/typebox`
 * (dist/typebox.js) is ONE module that imports nothing; dist/mls/ts-mls.js is one module that
 * imports no ts-mls file, only other packages. Each exports what its source exports, carries the
 * bundled package's licence, and works like the package. Every other test runs the sources (the
 * `parley-source` condition), so this is the check on the files a server or an installed SDK
 * loads (the packaging test runs the demo's MLS on them too). Skipped with a note when the
 * package has not been built.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as source from '../src/typebox.js';
import * as tsMlsSource from '../src/mls/ts-mls.js';

const BUNDLE = fileURLToPath(new URL('../dist/typebox.js', import.meta.url));
const TS_MLS_BUNDLE = fileURLToPath(new URL('../dist/mls/ts-mls.js', import.meta.url));
const built = existsSync(BUNDLE) && existsSync(TS_MLS_BUNDLE);
if (!built) console.log('vendor-bundles: packages/core/dist is not built (npm run build); skipped');

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

describe.skipIf(!built)('the bundled ts-mls (dist/mls/ts-mls.js)', () => {
  const text = built ? readFileSync(TS_MLS_BUNDLE, 'utf8') : '';
  const load = async () => (await import(pathToFileURL(TS_MLS_BUNDLE).href)) as typeof tsMlsSource;
  /** Every module specifier the file names (static imports, re-exports, dynamic imports). */
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)["']([^"']+)["']/gm)].map((m) => m[1]!);

  it('holds ts-mls itself: it names no ts-mls module and no relative file, only other packages', () => {
    expect(specifiers.length).toBeGreaterThan(0);
    for (const s of specifiers) {
      expect(s).not.toMatch(/^ts-mls(\/|$)/);
      expect(s).not.toMatch(/^\.{1,2}\//);
    }
    expect(new Set(specifiers.map((s) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/')))).toEqual(
      new Set(specifiers.filter((s) => s.startsWith('@hpke/') || s.startsWith('@noble/')).map((s) => s.split('/').slice(0, 2).join('/'))),
    );
    expect(text.slice(0, 2_000)).toMatch(/ts-mls \d+\.\d+\.\d+/);
    expect(text.slice(0, 2_000)).toContain('MIT License');
  });

  it('exports exactly what src/mls/ts-mls.ts exports', async () => {
    expect(Object.keys(await load()).sort()).toEqual(Object.keys(tsMlsSource).sort());
  });

  it('works like the sources: a group made by the bundle has a ratchet tree the sources decode, and back', async () => {
    const bundle = await load();
    const name = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
    expect(bundle.getCiphersuiteFromName(name)).toEqual(tsMlsSource.getCiphersuiteFromName(name));
    const cs = await bundle.getCiphersuiteImpl(bundle.getCiphersuiteFromName(name));
    const credential = { credentialType: 'basic' as const, identity: new TextEncoder().encode('vendor-bundle') };
    const lifetime = { notBefore: 0n, notAfter: 2n ** 63n - 1n };
    const { publicPackage, privatePackage } = await bundle.generateKeyPackage(credential, bundle.defaultCapabilities(), lifetime, [], cs);
    const state = await bundle.createGroup(new Uint8Array(16).fill(7), publicPackage, privatePackage, [], cs);
    const encoded = bundle.encodeRatchetTree(state.ratchetTree);
    const decoded = tsMlsSource.decodeRatchetTree(encoded, 0);
    expect(decoded?.[0]).toEqual(state.ratchetTree);
    expect(tsMlsSource.encodeRatchetTree(decoded![0])).toEqual(encoded);
  });
});
