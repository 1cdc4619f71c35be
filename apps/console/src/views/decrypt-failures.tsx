/**
 * Decrypt failures reported by clients (`POST /v1/diagnostics`, metadata only): by reason, by
 * SDK version and platform, and over time.
 */
import { useState } from 'preact/hooks';
import { api, type DecryptFailureReport } from '../api.js';
import { TimeChart } from '../chart.js';
import { Async, Bars, Card, Stat, Table, useLoad } from '../ui.js';

function Report({ report }: { report: DecryptFailureReport }) {
  const top = report.byReason[0];
  return (
    <>
      <div class="stats">
        <Stat testId="failures-total" label="Decrypt failures reported" value={report.total} />
        <Stat testId="failures-reasons" label="Distinct reasons" value={report.byReason.length} />
        <Stat testId="failures-top-reason" label="Most frequent reason" value={top?.reason ?? '—'} />
        <Stat testId="failures-versions" label="SDK versions affected" value={new Set(report.byVersion.map((v) => v.sdkVersion)).size} />
      </div>
      <div class="grid">
        <Card title="Failures over time" wide testId="failures-over-time">
          <TimeChart testId="failures-chart" times={report.buckets.map((b) => b.at)} series={[{ label: 'failures', color: '#dc2626', values: report.buckets.map((b) => b.count) }]} bars />
        </Card>
        <Card title="By reason" testId="failures-by-reason">
          <Bars testId="failures-reason-bars" items={report.byReason.map((r) => ({ label: r.reason, value: r.count, tone: 'bad' }))} />
        </Card>
        <Card title="By SDK version and platform" testId="failures-by-version">
          <Table
            testId="failures-version-table"
            head={['SDK version', 'Platform', 'Failures']}
            rows={report.byVersion.map((v) => [<code>{v.sdkVersion}</code>, v.platform, <span data-version-count={`${v.sdkVersion}/${v.platform}`}>{v.count}</span>])}
            empty="No failure reported."
          />
        </Card>
      </div>
    </>
  );
}

export function DecryptFailuresView() {
  const [hours, setHours] = useState(168);
  const [report] = useLoad(() => api.decryptFailures(hours), [hours]);
  return (
    <div class="view">
      <div class="toolbar">
        <select aria-label="Period" value={String(hours)} onChange={(e) => setHours(Number((e.currentTarget as HTMLSelectElement).value))}>
          <option value="24">Last 24 hours</option>
          <option value="168">Last 7 days</option>
          <option value="720">Last 30 days</option>
        </select>
      </div>
      <Async loaded={report}>{(r) => <Report report={r} />}</Async>
    </div>
  );
}
