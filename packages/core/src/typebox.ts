/**
 * TypeBox as every Parley package uses it at run time: the schema builder `Type` and the
 * validator compiler `Compile` (typebox 1.4.3, MIT licence). Import them from here
 * (`@parley/core/typebox` outside core), never from 'typebox' itself; eslint refuses that.
 *
 * Why: typebox ships as ~700 separate ES modules, and loading them was the largest part of the
 * server's start-up (issue 18: 683 of ~1,700 modules, ~0.4 s on the 2-core machine). The build
 * (scripts/bundle-vendor.mjs) replaces this module's compiled output with ONE bundled file of
 * these two entries, which loads in ~25 ms. Under the `parley-source` condition (tests, benches)
 * this file runs as written, on the package itself. Either way there is exactly one copy of
 * TypeBox at run time, so every schema is built and compiled by the same code.
 */
export { Type } from 'typebox';
export { Compile } from 'typebox/compile';
export type { Static, TSchema } from 'typebox';
