/**
 * The SDK's browser bundle (issue 11): `@parley/client` + `@parley/client/browser`
 * bundled by esbuild for the browser (ESM, minified, `parley-source` condition)
 * pulls in no Node built-in, no `ws`, no `Buffer` polyfill and nothing of
 * packages/server, and stays within its size budget (bench/bundle-size.ts).
 */
import { describe, expect, it } from 'vitest';
import { ALLOWED_DYNAMIC_BUILTINS, BUNDLE_BUDGET, runBundleSizeBench } from '../../../bench/bundle-size.js';

describe('browser bundle of @parley/client', () => {
  it('has no Node built-in, ws, Buffer polyfill or server file, and fits the budget', { timeout: 120_000 }, async () => {
    const result = await runBundleSizeBench({ write: true });
    console.log(`bundle: ${result.minifiedBytes} B minified, ${result.gzipBytes} B gzip, ${result.inputCount} inputs; results in ${result.file}`);
    // The build really bundled the SDK and its crypto (a vacuous build would pass the checks below).
    expect(result.inputCount).toBeGreaterThan(200);
    expect(result.largestInputs.map((i) => i.path)).toEqual(expect.arrayContaining([expect.stringMatching(/hash-wasm/), expect.stringMatching(/ts-mls/)]));
    expect(result.nodeBuiltins).toEqual([]);
    for (const dynamic of result.dynamicNodeBuiltins) expect(ALLOWED_DYNAMIC_BUILTINS.some((re) => re.test(dynamic)), dynamic).toBe(true);
    expect(result.forbiddenInputs).toEqual([]);
    expect(result.minifiedBytes).toBeLessThanOrEqual(BUNDLE_BUDGET.minifiedBytes);
    expect(result.gzipBytes).toBeLessThanOrEqual(BUNDLE_BUDGET.gzipBytes);
  });
});
