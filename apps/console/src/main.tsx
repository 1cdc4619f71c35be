/**
 * The operator console's entry point: asks the server whether an operator exists (first-run
 * form if not), restores the session from its cookie (sign-in form if none), then shows the
 * console. `body[data-state]` tells tests and screenshots where the app is.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, setCsrfToken, type Session } from './api.js';
import { BootstrapForm, SignInForm } from './auth.js';
import { Shell } from './shell.js';
import { describeError } from './ui.js';

type AppState =
  | { readonly kind: 'loading' }
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'sign-in'; readonly notice?: string }
  | { readonly kind: 'ready'; readonly session: Session }
  | { readonly kind: 'error'; readonly error: string };

function App() {
  const [state, setState] = useState<AppState>({ kind: 'loading' });

  const start = async (notice?: string) => {
    try {
      const { bootstrapped } = await api.status();
      if (!bootstrapped) return setState({ kind: 'bootstrap' });
      try {
        const session = await api.session();
        setCsrfToken(session.csrfToken);
        setState({ kind: 'ready', session });
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return setState({ kind: 'sign-in', ...(notice !== undefined ? { notice } : {}) });
        throw e;
      }
    } catch (e) {
      setState({ kind: 'error', error: describeError(e) });
    }
  };

  useEffect(() => {
    void start();
  }, []);
  useEffect(() => {
    document.body.dataset['state'] = state.kind;
  }, [state.kind]);

  switch (state.kind) {
    case 'loading':
      return <p class="muted center">Loading…</p>;
    case 'error':
      return (
        <p class="error center" role="alert">
          {state.error}
        </p>
      );
    case 'bootstrap':
      return <BootstrapForm onDone={() => setState({ kind: 'sign-in', notice: 'Administrator created. Sign in.' })} />;
    case 'sign-in':
      return (
        <SignInForm
          {...(state.notice !== undefined ? { notice: state.notice } : {})}
          onSignedIn={(session) => {
            setCsrfToken(session.csrfToken);
            setState({ kind: 'ready', session });
          }}
        />
      );
    case 'ready':
      return (
        <Shell
          session={state.session}
          onSignedOut={(notice) => {
            setCsrfToken('');
            void start(notice);
          }}
        />
      );
  }
}

render(<App />, document.getElementById('app')!);
