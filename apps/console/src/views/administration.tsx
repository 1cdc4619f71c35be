/**
 * Administration: businesses and their enrollment keys, a customer's devices (revoke), the
 * operators (create, disable) and the record of admin actions. Viewers see the same lists
 * without the controls; the server refuses their mutations anyway.
 */
import { useState } from 'preact/hooks';
import { api, type ActionRecord, type Role } from '../api.js';
import { Async, Card, Id, Table, describeError, formatTime, useLoad } from '../ui.js';

function Businesses() {
  const [list] = useLoad(() => api.businesses(), []);
  return (
    <Card title="Businesses and their keys" wide testId="businesses">
      <Async loaded={list}>
        {({ businesses }) => (
          <Table
            testId="businesses-table"
            head={['Business', 'Name', 'Status', 'Enrollment keys']}
            rows={businesses.map((b) => [
              <code data-business={b.id}>{b.id}</code>,
              b.name,
              b.status,
              <ul class="keys">
                {b.keys.map((k) => (
                  <li key={k.kid} class={k.revokedAt !== null ? 'revoked' : ''}>
                    <code>{k.kid}</code> {k.revokedAt !== null ? `revoked ${formatTime(k.revokedAt)}` : `since ${formatTime(k.createdAt)}`}
                  </li>
                ))}
              </ul>,
            ])}
            empty="No business registered."
          />
        )}
      </Async>
    </Card>
  );
}

function CustomerDevices({ isAdmin, onAction }: { isAdmin: boolean; onAction: () => void }) {
  const [identityId, setIdentityId] = useState<string | null>(null);
  const [list, reload] = useLoad(() => (identityId === null ? Promise.resolve(null) : api.devices(identityId)), [identityId]);
  const [message, setMessage] = useState<string | null>(null);
  const revoke = async (deviceId: string) => {
    if (!window.confirm(`Revoke device ${deviceId}? It will no longer receive messages.`)) return;
    try {
      const { device } = await api.revokeDevice(deviceId);
      setMessage(`Device ${device.id} is ${device.status}.`);
    } catch (e) {
      setMessage(describeError(e));
    }
    reload();
    onAction();
  };
  return (
    <Card title="A customer's devices" wide testId="customer-devices">
      <form
        class="inline"
        id="identity-lookup"
        onSubmit={(e) => {
          e.preventDefault();
          const value = ((e.currentTarget as HTMLFormElement).elements.namedItem('identityId') as HTMLInputElement).value.trim();
          setMessage(null);
          if (value !== '') setIdentityId(value);
        }}
      >
        <input name="identityId" placeholder="Customer identity id" aria-label="Customer identity id" size={40} />
        <button type="submit">Show devices</button>
      </form>
      {message !== null && (
        <p class="notice" role="status" data-testid="device-action-result">
          {message}
        </p>
      )}
      <Async loaded={list}>
        {(found) =>
          found === null ? (
            <p class="muted">Enter a customer's identity id (as the server stores it).</p>
          ) : (
            <Table
              testId="devices-table"
              head={['Device', 'Label', 'Status', 'Suite', 'Enrolled', ...(isAdmin ? [''] : [])]}
              rows={found.devices.map((d) => [
                <Id value={d.id} />,
                d.label ?? '—',
                <span class={`status status-${d.status}`} data-device-status={d.id}>
                  {d.status}
                </span>,
                d.suite !== null ? <code class="suite">{d.suite}</code> : '—',
                formatTime(d.createdAt),
                ...(isAdmin
                  ? [
                      d.status !== 'revoked' ? (
                        <button type="button" class="danger" data-revoke={d.id} onClick={() => void revoke(d.id)}>
                          Revoke
                        </button>
                      ) : (
                        <span class="muted">revoked {formatTime(d.revokedAt)}</span>
                      ),
                    ]
                  : []),
              ])}
              empty="This customer has no device."
            />
          )
        }
      </Async>
    </Card>
  );
}

function NewOperator({ onCreated }: { onCreated: () => void }) {
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const value = (n: string) => (form.elements.namedItem(n) as HTMLInputElement | HTMLSelectElement).value;
    try {
      const { operator } = await api.createOperator(value('name'), value('password'), value('role') as Role);
      setMessage(`Operator ${operator.name} (${operator.role}) created.`);
      form.reset();
      onCreated();
    } catch (e) {
      setMessage(describeError(e));
    }
  };
  return (
    <form class="inline" id="new-operator-form" onSubmit={(e) => void submit(e)}>
      <input name="name" placeholder="Name" aria-label="New operator name" required />
      <input name="password" type="password" placeholder="Password (12+ characters)" aria-label="New operator password" autocomplete="new-password" required minLength={12} />
      <select name="role" aria-label="Role">
        <option value="viewer">viewer</option>
        <option value="admin">admin</option>
      </select>
      <button type="submit">Add operator</button>
      {message !== null && (
        <span class="notice" role="status" data-testid="operator-result">
          {message}
        </span>
      )}
    </form>
  );
}

function Operators({ isAdmin, self, onAction }: { isAdmin: boolean; self: string; onAction: () => void }) {
  const [list, reload] = useLoad(() => api.operators(), []);
  const [error, setError] = useState<string | null>(null);
  const disable = async (id: string, name: string) => {
    if (!window.confirm(`Disable operator ${name}?`)) return;
    try {
      await api.disableOperator(id);
      setError(null);
    } catch (e) {
      setError(describeError(e));
    }
    reload();
    onAction();
  };
  return (
    <Card title="Operators" wide testId="operators">
      {isAdmin && (
        <NewOperator
          onCreated={() => {
            reload();
            onAction();
          }}
        />
      )}
      {error !== null && <p class="error">{error}</p>}
      <Async loaded={list}>
        {({ operators }) => (
          <Table
            testId="operators-table"
            head={['Name', 'Role', 'Created', 'Status', ...(isAdmin ? [''] : [])]}
            rows={operators.map((o) => [
              <span data-operator={o.name}>{o.name}</span>,
              <span class={`badge role-${o.role}`}>{o.role}</span>,
              formatTime(o.createdAt),
              o.disabledAt ? `disabled ${formatTime(o.disabledAt)}` : 'active',
              ...(isAdmin
                ? [
                    !o.disabledAt && o.id !== self ? (
                      <button type="button" class="danger" data-disable={o.name} onClick={() => void disable(o.id, o.name)}>
                        Disable
                      </button>
                    ) : (
                      ''
                    ),
                  ]
                : []),
            ])}
          />
        )}
      </Async>
    </Card>
  );
}

function operatorName(a: ActionRecord): string {
  return typeof a.operator === 'string' ? a.operator : a.operator.name;
}

function Actions({ version }: { version: number }) {
  const [list] = useLoad(() => api.actions(50), [version]);
  return (
    <Card title="Admin actions" wide testId="actions">
      <Async loaded={list}>
        {({ actions }) => (
          <Table
            testId="actions-table"
            head={['When', 'Operator', 'Action', 'Target']}
            rows={actions.map((a) => [formatTime(a.at), operatorName(a), <code data-action={a.action}>{a.action}</code>, a.target !== null ? <Id value={a.target} /> : '—'])}
            empty="No admin action recorded."
          />
        )}
      </Async>
    </Card>
  );
}

export function AdministrationView({ isAdmin, self }: { isAdmin: boolean; self: string }) {
  const [version, setVersion] = useState(0);
  const bump = () => setVersion((v) => v + 1);
  return (
    <div class="view">
      {!isAdmin && (
        <p class="notice" data-testid="viewer-notice">
          You are signed in as a viewer: you can see everything here, but only admins can change it.
        </p>
      )}
      <div class="grid">
        <Businesses />
        <CustomerDevices isAdmin={isAdmin} onAction={bump} />
        <Operators isAdmin={isAdmin} self={self} onAction={bump} />
        <Actions version={version} />
      </div>
    </div>
  );
}
