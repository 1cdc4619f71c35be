import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../src/index.js';
import { SeenWindow } from '../src/seen-window.js';

describe('SeenWindow', () => {
  it('keeps the last 2,048 ids in at most 32 small records, and reloads them', async () => {
    const store = new MemoryKeyStore();
    const window = SeenWindow.empty('conv/x/seen/');
    for (let i = 0; i < 3000; i++) {
      const plan = window.plan([`e:${i}`]);
      expect(plan.ops.length).toBeLessThanOrEqual(2);
      await store.write(plan.ops);
      plan.apply();
    }
    expect(window.has('e:2999')).toBe(true);
    expect(window.has(`e:${3000 - 1985}`)).toBe(true); // the window holds 1,985 to 2,048 ids
    expect(window.has(`e:${3000 - 2048 - 64}`)).toBe(false);
    const names = await store.list('conv/x/seen/');
    expect(names.length).toBeLessThanOrEqual(32);
    const reloaded = await SeenWindow.load(store, 'conv/x/seen/');
    for (const probe of [0, 900, 952, 1000, 2999]) expect(reloaded.has(`e:${probe}`)).toBe(window.has(`e:${probe}`));
  });

  it('changes nothing until apply, and ignores ids already seen', async () => {
    const window = SeenWindow.empty('p/');
    const plan = window.plan(['a', 'b', 'a']);
    expect(window.has('a')).toBe(false);
    plan.apply();
    expect(window.has('a') && window.has('b')).toBe(true);
    expect(window.plan(['a', 'b']).ops).toEqual([]);
  });
});
