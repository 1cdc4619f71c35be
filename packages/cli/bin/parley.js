#!/usr/bin/env node
// Entry point for `parley`: runs the TypeScript sources through tsx so that
// `npx parley …` works right after `npm ci`, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
