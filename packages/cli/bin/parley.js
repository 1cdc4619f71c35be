#!/usr/bin/env node
// Entry point for `parley`: runs the TypeScript sources through tsx so that
// `npx parley …` works right after `npm ci`, with no build step.
import { register } from 'tsx/esm/api';

// Started by npm (`npx parley`, `npm exec`, `npm run`), this process is the child of a
// `sh -c` that npm spawned: npm passes SIGTERM/SIGINT only to that shell, which dies
// without passing it on, and would leave this process running as an orphan. So when
// the parent goes away, act as if SIGTERM had arrived (`serve` drains and stops; other
// commands end). Run directly (`node_modules/.bin/parley`), it gets the signals itself.
if (process.env.npm_command !== undefined && process.platform !== 'win32') {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 200);
  watch.unref();
}

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
