/** What `parley demo` ends with: where the operator console shows the demo's metadata, and how to sign in. */
import { describe, expect, it } from 'vitest';
import { consoleHint, renderConsoleHint } from '../src/demo/console-hint.js';

describe('parley demo: the operator console hint', () => {
  it('serves a kept data directory again with parley serve, quoted for the shell', () => {
    const hint = consoleHint({ embedded: true, dataDir: "/tmp/it's here/server", keptDataDir: true, serverUrl: 'http://127.0.0.1:41000' });
    expect(hint.url).toBe('http://127.0.0.1:8080/console/');
    expect(hint.serve).toBe(`parley serve --data-dir '/tmp/it'\\''s here/server'`);
    expect(renderConsoleHint(hint, true).join('\n')).toContain(`Serve this demo's data: ${hint.serve}`);
  });

  it('says how to keep the data when the demo used a temporary directory', () => {
    const hint = consoleHint({ embedded: true, dataDir: '/tmp/parley-demo-x/server', keptDataDir: false, serverUrl: 'http://127.0.0.1:41000' });
    expect(hint.serve).toBe('parley demo --data-dir DIR && parley serve --data-dir DIR/server');
    expect(renderConsoleHint(hint, false).join('\n')).toMatch(/temporary/);
  });

  it("points at a remote server's own console, with no secret in the text", () => {
    const hint = consoleHint({ embedded: false, dataDir: '/unused', keptDataDir: false, serverUrl: 'https://parley.example' });
    expect(hint).toEqual({ url: 'https://parley.example/console/', signIn: expect.stringContaining('admin token') });
    expect(renderConsoleHint(hint, false).some((l) => l.includes('https://parley.example/console/'))).toBe(true);
  });
});
