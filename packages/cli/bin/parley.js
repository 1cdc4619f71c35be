#!/usr/bin/env node
// Entry point for `parley`: runs the compiled CLI (dist/main.js) with plain Node.
//
// Inside the Parley repository, tests and benchmarks run the TypeScript sources instead:
// they start Node with the `parley-source` export condition (NODE_OPTIONS=--conditions=
// parley-source; vitest.config.ts sets it for every process a test spawns), under which the
// workspace packages resolve to src/*.ts. Then this file loads tsx (a devDependency of the
// repository, never of the published package) and imports ../src/main.ts.

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

const SOURCE_CONDITION = /(?:^|\s)(?:--conditions|-C)[=\s]parley-source(?:\s|$)/;
const fromSource = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => SOURCE_CONDITION.test(arg));

let main;
if (fromSource) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/main.ts'));
} else {
  ({ main } = await import('../dist/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
