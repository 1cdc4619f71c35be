/**
 * Transparency logs: both logs' size over time and their signed checkpoints, the monitor's
 * status, and in-browser verification (the same core verifier auditors run) of an entry by
 * number or of a message's evidence bundle: signature, inclusion and consistency proofs.
 */
import { useState } from 'preact/hooks';
import { api, type LogSummary, type LogsReport } from '../api.js';
import { TimeChart, colorFor } from '../chart.js';
import type { EvidenceOutcome } from '../evidence-verify.js';
import { verifyLog, type VerifyOutcome, type VerifyStep } from '../tlog-verify.js';
import { Async, Card, Stat, describeError, formatTime, useLoad } from '../ui.js';

function Steps({ steps, testId }: { steps: readonly VerifyStep[]; testId: string }) {
  return (
    <ul class="checks" data-testid={testId}>
      {steps.map((s, i) => (
        <li key={i} class={s.ok ? 'ok' : 'bad'} data-ok={String(s.ok)}>
          <span class="mark" aria-hidden="true">
            {s.ok ? '✓' : '✗'}
          </span>{' '}
          <strong>{s.name}</strong> — {s.detail}
        </li>
      ))}
    </ul>
  );
}

function Verdict({ ok, testId }: { ok: boolean; testId: string }) {
  return (
    <p class={ok ? 'verdict ok' : 'verdict bad'} data-testid={testId} data-verified={String(ok)}>
      {ok ? 'verified ✓' : 'verification failed ✗'}
    </p>
  );
}

function LogCard({ log }: { log: LogSummary }) {
  const history = [...log.history].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return (
    <Card title={`${log.name} log`} testId={`log-${log.name}`}>
      <div class="stats compact">
        <Stat testId={`log-size-${log.name}`} label="Entries" value={log.size} />
        <Stat testId={`log-checkpoints-${log.name}`} label="Checkpoints recorded" value={history.length} />
      </div>
      <TimeChart testId={`log-history-${log.name}`} times={history.map((h) => h.at)} series={[{ label: 'tree size', color: colorFor(log.name === 'audit' ? 'push-app' : 'app'), values: history.map((h) => h.size) }]} height={160} />
      <details>
        <summary>Latest signed checkpoint</summary>
        <pre class="note" data-testid={`checkpoint-${log.name}`}>{log.checkpoint}</pre>
        <p class="muted">
          Origin <code>{log.origin}</code>; verifier key{log.verifierKeys.length > 1 ? 's' : ''} {log.verifierKeys.map((k) => <code key={k}>{k}</code>)}
        </p>
      </details>
    </Card>
  );
}

function EntryVerifier({ report }: { report: LogsReport }) {
  const [outcome, setOutcome] = useState<VerifyOutcome | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const name = (form.elements.namedItem('log') as HTMLSelectElement).value;
    const raw = (form.elements.namedItem('index') as HTMLInputElement).value.trim();
    const log = report.logs.find((l) => l.name === name);
    if (log === undefined) return;
    setBusy(true);
    const index = raw === '' ? null : Number(raw);
    setOutcome(await verifyLog(log, { note: log.checkpoint, label: 'the checkpoint this page loaded' }, index));
    setBusy(false);
  };
  return (
    <Card title="Verify a log entry in this browser" testId="entry-verifier">
      <form class="inline" id="entry-verify-form" onSubmit={(e) => void submit(e)}>
        <select name="log" aria-label="Log">
          {report.logs.map((l) => (
            <option key={l.name} value={l.name}>
              {l.name}
            </option>
          ))}
        </select>
        <input name="index" type="number" min={0} step={1} placeholder="Entry number" aria-label="Entry number" />
        <button type="submit" disabled={busy}>
          Verify
        </button>
      </form>
      <p class="muted">Fetches the public checkpoint, entry bundle and proofs and checks them with @parley/core's verifier.</p>
      {outcome !== null && (
        <>
          <Verdict ok={outcome.ok} testId="entry-verdict" />
          <Steps steps={outcome.steps} testId="entry-steps" />
          {outcome.entryText !== undefined && <pre class="note" data-testid="entry-text">{outcome.entryText}</pre>}
        </>
      )}
    </Card>
  );
}

function EvidenceVerifier({ report }: { report: LogsReport }) {
  const [outcome, setOutcome] = useState<EvidenceOutcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const auditLog = report.logs.find((l) => l.name === 'audit');
  const keyLog = report.logs.find((l) => l.name === 'keys');
  const submit = async (event: Event) => {
    event.preventDefault();
    const text = ((event.currentTarget as HTMLFormElement).elements.namedItem('bundle') as HTMLTextAreaElement).value;
    if (auditLog === undefined || keyLog === undefined) return setError('the server lists no audit or keys log');
    setBusy(true);
    setError(null);
    try {
      // Loaded on first use: the evidence verifier's schema checks probe for `eval` once (the
      // page's policy refuses it, and they fall back to interpreting), so not on every page load.
      const { verifyEvidence } = await import('../evidence-verify.js');
      setOutcome(await verifyEvidence(text, auditLog, keyLog));
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const load = async (event: Event) => {
    const file = (event.currentTarget as HTMLInputElement).files?.[0];
    const area = document.querySelector<HTMLTextAreaElement>('#evidence-bundle');
    if (file !== undefined && area !== null) area.value = await file.text();
  };
  return (
    <Card title="Verify a message's evidence" testId="evidence-verifier">
      <form id="evidence-verify-form" onSubmit={(e) => void submit(e)}>
        <textarea id="evidence-bundle" name="bundle" rows={4} placeholder="Paste an evidence bundle (JSON), or choose its file" aria-label="Evidence bundle" />
        <div class="inline">
          <input type="file" accept="application/json,.json" aria-label="Evidence bundle file" onChange={(e) => void load(e)} />
          <button type="submit" disabled={busy}>
            Verify evidence
          </button>
        </div>
      </form>
      {error !== null && <p class="error">{error}</p>}
      {outcome !== null && (
        <>
          <Verdict ok={outcome.ok} testId="evidence-verdict" />
          {outcome.report.message !== null && (
            <p>
              Message <code data-testid="evidence-message-id">{outcome.report.message.id}</code> ({outcome.report.message.class}) from <code>{outcome.report.message.sender}</code>, {outcome.report.receipts.length} receipt(s).
            </p>
          )}
          <Steps steps={outcome.report.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.ok ? (c.detail ?? 'ok') : `${c.code ?? 'failed'}${c.detail !== undefined ? `: ${c.detail}` : ''}` }))} testId="evidence-checks" />
          {outcome.live !== null && <Steps steps={outcome.live.steps} testId="evidence-live" />}
        </>
      )}
    </Card>
  );
}

function Monitor({ monitor }: { monitor: LogsReport['monitor'] }) {
  // The server checks both logs on every request of this view: there is always a result.
  return (
    <div data-testid="monitor-status" data-ok={String(monitor.ok)}>
      <p class={monitor.ok ? 'verdict ok' : 'verdict bad'}>{monitor.ok ? 'Consistent ✓' : 'Problems found ✗'}</p>
      <p class="muted">Last check {formatTime(monitor.checkedAt)}</p>
      {monitor.problems.length > 0 && (
        <ul>
          {monitor.problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function TransparencyView() {
  const [report] = useLoad(() => api.logs(), []);
  return (
    <div class="view">
      <Async loaded={report}>
        {(r) => (
          <div class="grid">
            {r.logs.map((log) => (
              <LogCard key={log.name} log={log} />
            ))}
            <Card title="Monitor" testId="monitor">
              <Monitor monitor={r.monitor} />
            </Card>
            <EntryVerifier report={r} />
            <EvidenceVerifier report={r} />
          </div>
        )}
      </Async>
    </div>
  );
}
