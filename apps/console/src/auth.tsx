/**
 * Signing in: the first-run form that creates the first admin with the server's admin token
 * (only while no operator exists), and the sign-in form.
 */
import { useState } from 'preact/hooks';
import { api, type Session } from './api.js';
import { describeError } from './ui.js';

function field(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement ? el.value : '';
}

/** The first-run form: admin token, name and password of the first admin. */
export function BootstrapForm({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    setBusy(true);
    setError(null);
    try {
      await api.bootstrap(field(form, 'token'), field(form, 'name'), field(form, 'password'));
      onDone();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="auth">
      <form class="auth-card" id="bootstrap-form" onSubmit={(e) => void submit(e)}>
        <h1>Parley console — first run</h1>
        <p class="muted">No operator exists yet. Create the first administrator with the server's admin token (it is used only for this).</p>
        <label>
          Admin token
          <input name="token" type="password" autocomplete="off" required />
        </label>
        <label>
          Your name
          <input name="name" autocomplete="username" required minLength={1} maxLength={64} />
        </label>
        <label>
          Password (12 characters or more)
          <input name="password" type="password" autocomplete="new-password" required minLength={12} />
        </label>
        {error !== null && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>
          Create administrator
        </button>
      </form>
    </main>
  );
}

/** The sign-in form; calls `onSignedIn` with the new session. */
export function SignInForm({ onSignedIn, notice }: { onSignedIn: (session: Session) => void; notice?: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api.login(field(form, 'name'), field(form, 'password')));
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  };
  return (
    <main class="auth">
      <form class="auth-card" id="sign-in-form" onSubmit={(e) => void submit(e)}>
        <h1>Parley console</h1>
        <p class="muted">Operators see delivery metadata, never message content.</p>
        {notice !== undefined && <p class="notice">{notice}</p>}
        <label>
          Name
          <input name="name" autocomplete="username" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {error !== null && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
