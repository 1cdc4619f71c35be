/**
 * Verification: the share of customers whose safety number with the business is verified
 * (and by which method), devices waiting for approval, recent key changes and revocations.
 */
import { useMemo } from 'preact/hooks';
import { api, type VerificationReport } from '../api.js';
import { TimeChart, colorFor } from '../chart.js';
import { Async, Bars, Card, Id, Stat, Table, formatPercent, formatTime, useLoad } from '../ui.js';

/** A ring showing a share (conic gradient set through the CSSOM, not an inline style attribute). */
function Ring({ ratio, testId }: { ratio: number; testId: string }) {
  const deg = Math.round(360 * Math.min(1, Math.max(0, ratio)));
  return (
    <div class="ring" data-testid={testId} style={{ background: `conic-gradient(#16a34a ${deg}deg, #e2e8f0 ${deg}deg)` }}>
      <div class="ring-hole">{formatPercent(ratio)}</div>
    </div>
  );
}

/** Key changes per hour by kind, for the chart. */
function changesByHour(report: VerificationReport) {
  const hours = [...new Set(report.keyChanges.map((c) => new Date(Math.floor(Date.parse(c.at) / 3_600_000) * 3_600_000).toISOString()))].sort();
  const kinds = [...new Set(report.keyChanges.map((c) => c.kind))].sort();
  const series = kinds.map((kind) => ({
    label: kind,
    color: colorFor(kind === 'device-revoked' ? 'blocked' : kind === 'device-added' ? 'app' : 'rcs'),
    values: hours.map((h) => report.keyChanges.filter((c) => c.kind === kind && new Date(Math.floor(Date.parse(c.at) / 3_600_000) * 3_600_000).toISOString() === h).length),
  }));
  return { hours, series };
}

function Report({ report }: { report: VerificationReport }) {
  const { total, verified } = report.customers;
  const ratio = total > 0 ? verified / total : 0;
  const chart = useMemo(() => changesByHour(report), [report]);
  const revocations = report.keyChanges.filter((c) => c.kind === 'device-revoked').length;
  return (
    <>
      <div class="stats">
        <Stat testId="customers-total" label="Customers" value={total} />
        <Stat testId="customers-verified" label="Verified safety number" value={verified} hint={formatPercent(ratio)} />
        <Stat testId="pending-devices" label="Devices pending approval" value={report.pendingDevices.length} />
        <Stat testId="revocations" label="Recent revocations" value={revocations} />
      </div>
      <div class="grid">
        <Card title="Customers who verified the business" testId="verified-share">
          <div class="ring-row">
            <Ring ratio={ratio} testId="verified-ring" />
            <Bars
              testId="verified-by-method"
              items={[
                { label: 'QR code', value: report.byMethod.qr, tone: 'good' },
                { label: 'Numeric comparison', value: report.byMethod.numeric, tone: 'good' },
                { label: 'Not verified', value: Math.max(0, total - verified), tone: 'muted' },
              ]}
            />
          </div>
        </Card>
        <Card title="Key changes per hour" testId="key-changes-chart">
          <TimeChart testId="key-changes-timechart" times={chart.hours} series={chart.series} bars height={180} />
        </Card>
        <Card title="Devices pending approval" wide testId="pending">
          <Table
            testId="pending-table"
            head={['Device', 'Customer', 'Label', 'Since']}
            rows={report.pendingDevices.map((d) => [<Id value={d.deviceId} />, <Id value={d.identityId} />, d.label ?? '—', formatTime(d.createdAt)])}
            empty="No device is waiting for approval."
          />
        </Card>
        <Card title="Recent key changes and revocations" wide testId="key-changes">
          <Table
            testId="key-changes-table"
            head={['When', 'Change', 'Customer', 'Device']}
            rows={report.keyChanges.map((c) => [formatTime(c.at), <span class={`kind kind-${c.kind}`}>{c.kind}</span>, <Id value={c.identityId} />, <Id value={c.deviceId} />])}
            empty="No key change recorded."
          />
        </Card>
      </div>
    </>
  );
}

export function VerificationView() {
  const [report] = useLoad(() => api.verification(), []);
  return (
    <div class="view">
      <Async loaded={report}>{(r) => <Report report={r} />}</Async>
    </div>
  );
}
