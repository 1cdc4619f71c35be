/**
 * Where to see the demo's metadata in the operator console once `parley demo` is done: the
 * console's URL, the command that serves the demo's data again (the embedded server stops with
 * the demo) and how to sign in. No secret in it: the admin token stays where `parley serve`
 * keeps it.
 */

/** What `parley demo` prints (and puts in its JSON as `console`). */
export interface ConsoleHint {
  /** The console's page. */
  readonly url: string;
  /** The command that serves the demo's data with the console (absent against a remote server). */
  readonly serve?: string;
  readonly signIn: string;
}

/** `parley serve`'s default address. */
const SERVE_URL = 'http://127.0.0.1:8080';

const SIGN_IN =
  'first run: enter the admin token (parley serve prints where it keeps it) with a name and password to create the first admin, then sign in; add viewers under Administration';

/**
 * The hint for a demo that ran an embedded server on `dataDir` (kept when `keptDataDir`) or
 * against the remote `serverUrl`.
 *
 * @example
 * consoleHint({ embedded: true, dataDir: '/tmp/demo/server', keptDataDir: true, serverUrl: 'http://127.0.0.1:4000' }).serve
 * // "parley serve --data-dir '/tmp/demo/server'"
 */
export function consoleHint(o: { readonly embedded: boolean; readonly dataDir: string; readonly keptDataDir: boolean; readonly serverUrl: string }): ConsoleHint {
  if (!o.embedded) return { url: `${o.serverUrl}/console/`, signIn: `sign in with your operator account; ${SIGN_IN}` };
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const serve = o.keptDataDir ? `parley serve --data-dir ${quote(o.dataDir)}` : 'parley demo --data-dir DIR && parley serve --data-dir DIR/server';
  return { url: `${SERVE_URL}/console/`, serve, signIn: SIGN_IN };
}

/**
 * The lines `parley demo` ends with.
 *
 * @example
 * for (const line of renderConsoleHint(hint)) console.log(line)
 */
export function renderConsoleHint(hint: ConsoleHint, keptDataDir: boolean): string[] {
  const lines = ['\nOperator console (delivery, verification, logs, administration; metadata only)'];
  if (hint.serve !== undefined) {
    lines.push(keptDataDir ? `  Serve this demo's data: ${hint.serve}` : `  This demo's data was temporary; to browse it in the console: ${hint.serve}`);
  }
  lines.push(`  Open ${hint.url}`, `  Sign in: ${hint.signIn}`);
  return lines;
}
