/**
 * The signed-in console: a sidebar with the views, the operator's name and role badge, sign
 * out; the current view from the address's hash (`#/delivery`, …), so a view can be linked.
 */
import { useEffect, useState } from 'preact/hooks';
import { SESSION_LOST_EVENT, api, type Session } from './api.js';
import { AdministrationView } from './views/administration.js';
import { DecryptFailuresView } from './views/decrypt-failures.js';
import { DeliveryView } from './views/delivery.js';
import { TransparencyView } from './views/transparency.js';
import { VerificationView } from './views/verification.js';

/** The console's views, in sidebar order. */
export const VIEWS = [
  { id: 'delivery', title: 'Delivery' },
  { id: 'verification', title: 'Verification' },
  { id: 'decrypt-failures', title: 'Decrypt failures' },
  { id: 'transparency', title: 'Transparency logs' },
  { id: 'administration', title: 'Administration' },
] as const;
export type ViewId = (typeof VIEWS)[number]['id'];

function viewFromHash(): ViewId {
  const id = location.hash.replace(/^#\/?/, '').split('/')[0];
  return VIEWS.find((v) => v.id === id)?.id ?? 'delivery';
}

export function Shell({ session, onSignedOut }: { session: Session; onSignedOut: (notice?: string) => void }) {
  const [view, setView] = useState<ViewId>(viewFromHash());
  const isAdmin = session.operator.role === 'admin';

  useEffect(() => {
    const onHash = () => setView(viewFromHash());
    const onLost = () => onSignedOut('Your session ended. Sign in again.');
    window.addEventListener('hashchange', onHash);
    window.addEventListener(SESSION_LOST_EVENT, onLost);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener(SESSION_LOST_EVENT, onLost);
    };
  }, [onSignedOut]);
  useEffect(() => {
    document.body.dataset['view'] = view;
    document.body.dataset['role'] = session.operator.role;
    document.title = `${VIEWS.find((v) => v.id === view)?.title ?? ''} · Parley console`;
  }, [view, session.operator.role]);

  const signOut = async () => {
    await api.logout().catch(() => undefined);
    onSignedOut('Signed out.');
  };

  return (
    <div class="layout">
      <nav class="sidebar" aria-label="Console views">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ◆
          </span>{' '}
          Parley console
        </div>
        <ul>
          {VIEWS.map((v) => (
            <li key={v.id}>
              <a href={`#/${v.id}`} class={v.id === view ? 'active' : ''} data-nav={v.id} aria-current={v.id === view ? 'page' : undefined}>
                {v.title}
              </a>
            </li>
          ))}
        </ul>
        <div class="who">
          <div class="who-name" data-testid="operator-name">
            {session.operator.name}
          </div>
          <span class={`badge role-${session.operator.role}`} data-testid="role-badge">
            {session.operator.role}
          </span>
          <button type="button" class="link" id="sign-out" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </nav>
      <main class="content" data-testid={`view-${view}`}>
        <h1>{VIEWS.find((v) => v.id === view)?.title}</h1>
        {view === 'delivery' && <DeliveryView />}
        {view === 'verification' && <VerificationView />}
        {view === 'decrypt-failures' && <DecryptFailuresView />}
        {view === 'transparency' && <TransparencyView />}
        {view === 'administration' && <AdministrationView isAdmin={isAdmin} self={session.operator.id} />}
      </main>
    </div>
  );
}
