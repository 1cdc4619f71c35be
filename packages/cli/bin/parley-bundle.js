#!/usr/bin/env node
const { main } = await import('../dist/main.bundle.js');
process.exitCode = await main(process.argv.slice(2));
