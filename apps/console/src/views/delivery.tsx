/**
 * Delivery: messages by path over time, by class, the fallback rate, time to delivered (p50,
 * p99), provider errors by channel and reason, recent routes, and one message's route with
 * every routing decision and channel send.
 */
import { useMemo, useState } from 'preact/hooks';
import { api, type DeliveryReport, type RouteDetail } from '../api.js';
import { TimeChart, colorFor, seriesByKey } from '../chart.js';
import { Async, Bars, Card, Id, Stat, Table, formatMs, formatPercent, formatTime, useLoad } from '../ui.js';

const PERIODS = [
  { hours: 24, label: 'Last 24 hours' },
  { hours: 24 * 7, label: 'Last 7 days' },
] as const;

function totalOf(report: DeliveryReport): number {
  return report.byClass.reduce((n, c) => n + c.total, 0);
}

/** A stacked horizontal bar of one class's paths. */
function PathMix({ byPath, total }: { byPath: Readonly<Record<string, number>>; total: number }) {
  const entries = Object.entries(byPath).filter(([, n]) => n > 0);
  return (
    <span class="stack" title={entries.map(([p, n]) => `${p}: ${n}`).join(', ')}>
      {entries.map(([path, n]) => (
        <span key={path} class="stack-part" data-path={path} style={{ width: `${(100 * n) / Math.max(1, total)}%`, background: colorFor(path) }} />
      ))}
    </span>
  );
}

function Overview({ report }: { report: DeliveryReport }) {
  const times = useMemo(() => report.buckets.map((b) => b.at), [report]);
  const series = useMemo(() => seriesByKey(report.buckets, (b) => b.byPath), [report]);
  const range = useMemo(() => [report.from, report.to] as const, [report]);
  const total = totalOf(report);
  const errors = report.providerErrors.reduce((n, e) => n + e.count, 0);
  return (
    <>
      <div class="stats">
        <Stat testId="messages-total" label="Messages routed" value={total} />
        <Stat testId="fallback-rate" label="Fallback rate" value={formatPercent(report.fallbackRate)} hint="delivered, not on the policy's first step" />
        <Stat testId="p50" label="Time to delivered, p50" value={formatMs(report.timeToDelivered.p50Ms)} hint={`${report.timeToDelivered.count} delivered`} />
        <Stat testId="p99" label="Time to delivered, p99" value={formatMs(report.timeToDelivered.p99Ms)} />
        <Stat testId="provider-errors" label="Provider errors" value={errors} />
      </div>
      <div class="grid">
        <Card title="Messages by path over time" wide testId="delivery-over-time">
          <TimeChart testId="delivery-chart" times={times} series={series} bars range={range} />
        </Card>
        <Card title="By message class" testId="by-class">
          <Table
            testId="by-class-table"
            head={['Class', 'Messages', 'Paths']}
            rows={report.byClass.map((c) => [
              <code data-class={c.class}>{c.class}</code>,
              <span data-class-total={c.class}>{c.total}</span>,
              <PathMix byPath={c.byPath} total={c.total} />,
            ])}
            empty="No messages in this period."
          />
          <ul class="legend">
            {[...new Set(report.byClass.flatMap((c) => Object.keys(c.byPath)))].sort().map((p) => (
              <li key={p}>
                <span class="swatch" style={{ background: colorFor(p) }} /> {p}
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Provider errors by channel and reason" testId="provider-errors-card">
          <Bars testId="provider-errors-bars" items={report.providerErrors.map((e) => ({ label: `${e.channel} · ${e.reason}`, value: e.count, tone: 'bad' }))} />
        </Card>
      </div>
    </>
  );
}

function RouteView({ messageId }: { messageId: string }) {
  const [loaded] = useLoad<RouteDetail>(() => api.route(messageId), [messageId]);
  return (
    <Card title={`Route of ${messageId}`} wide testId="route-detail">
      <Async loaded={loaded}>
        {({ route, events, sends }) => (
          <>
            <dl class="facts" data-message-id={route.messageId}>
              <dt>Business</dt>
              <dd>{route.businessId}</dd>
              <dt>Class</dt>
              <dd>{route.class}</dd>
              <dt>Mode</dt>
              <dd>{route.mode}</dd>
              <dt>State</dt>
              <dd data-route-state={route.state}>{route.state}</dd>
              <dt>Path</dt>
              <dd data-route-path={route.path ?? ''}>{route.path ?? '—'}</dd>
              <dt>Created</dt>
              <dd>{formatTime(route.createdAt)}</dd>
            </dl>
            <h3>Decisions</h3>
            <ol class="timeline" data-testid="route-events">
              {events.map((e, i) => (
                <li key={i} data-decision={e.decision}>
                  <span class="when">{formatTime(e.at)}</span> <strong>step {String(e.step)}</strong> · <code>{e.channel ?? '—'}</code> → <span class="decision">{e.decision}</span>
                  {e.reason !== null && e.reason !== '' && <span class="muted"> ({e.reason})</span>}
                </li>
              ))}
            </ol>
            <h3>Channel sends</h3>
            <Table
              testId="route-sends"
              head={['Step', 'Channel', 'Status', 'Reason', 'At']}
              rows={sends.map((s) => [String(s.step), <code>{s.channel}</code>, s.status, s.reason ?? '—', formatTime(s.at)])}
              empty="No channel sends (delivered in the app, or blocked)."
            />
          </>
        )}
      </Async>
    </Card>
  );
}

export function DeliveryView() {
  const [hours, setHours] = useState<number>(24);
  const [selected, setSelected] = useState<string | null>(null);
  const [report] = useLoad(() => api.delivery(hours), [hours]);
  const [routes] = useLoad(() => api.routes(50), []);
  const lookup = (event: Event) => {
    event.preventDefault();
    const input = (event.currentTarget as HTMLFormElement).elements.namedItem('messageId') as HTMLInputElement;
    if (input.value.trim() !== '') setSelected(input.value.trim());
  };
  return (
    <div class="view">
      <div class="toolbar">
        <select aria-label="Period" value={String(hours)} onChange={(e) => setHours(Number((e.currentTarget as HTMLSelectElement).value))}>
          {PERIODS.map((p) => (
            <option key={p.hours} value={String(p.hours)}>
              {p.label}
            </option>
          ))}
        </select>
        <form class="inline" id="route-lookup" onSubmit={lookup}>
          <input name="messageId" placeholder="Message id" aria-label="Message id" size={36} />
          <button type="submit">Show route</button>
        </form>
      </div>
      <Async loaded={report}>{(r) => <Overview report={r} />}</Async>
      {selected !== null && <RouteView messageId={selected} />}
      <Card title="Recent routes" wide testId="recent-routes">
        <Async loaded={routes}>
          {({ routes: list }) => (
            <Table
              testId="routes-table"
              head={['Message', 'Business', 'Class', 'State', 'Path', 'Updated']}
              rows={list.map((r) => [
                <button type="button" class="link" data-route={r.messageId} onClick={() => setSelected(r.messageId)}>
                  <Id value={r.messageId} />
                </button>,
                r.businessId,
                <code>{r.class}</code>,
                r.state,
                r.path !== null ? <span class="pill" style={{ borderColor: colorFor(r.path) }}>{r.path}</span> : '—',
                formatTime(r.updatedAt),
              ])}
              empty="No routes yet."
            />
          )}
        </Async>
      </Card>
    </div>
  );
}
