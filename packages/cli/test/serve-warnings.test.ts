/** What `parley serve` warns about at start: what its configuration cannot do. */
import { describe, expect, it } from 'vitest';
import type { Channel } from '@parley/server';
import { serveWarnings, type ServeSetup } from '../src/serve-warnings.js';

const channel = (name: string) => ({ name }) as unknown as Channel;
const codes = (setup: ServeSetup) => serveWarnings(setup).map((w) => w.code);

describe('serveWarnings', () => {
  it('a bare embedded node: no SMS, push or RCS channel, metrics by admin token only, one node', () => {
    const warnings = serveWarnings({ database: { kind: 'pglite', dataDir: '/tmp/x' }, adminToken: 'token-0123456789abcdef', routing: undefined, metrics: {} });
    expect(warnings.map((w) => w.code)).toEqual(['no_sms_channel', 'no_push_channel', 'no_rcs_channel', 'metrics_admin_token_only', 'embedded_single_node']);
    const sms = warnings[0]!.message;
    // The default policies that rely on SMS are named, and what becomes of their routes.
    expect(sms).toContain('default otp');
    expect(sms).toContain("end 'exhausted'");
    expect(warnings.every((w) => !w.message.includes('token-0123456789abcdef'))).toBe(true);
  });

  it('a complete PostgreSQL deployment: nothing to warn about', () => {
    expect(
      codes({
        database: { kind: 'postgres', url: 'postgres://db/parley' },
        adminToken: 'token-0123456789abcdef',
        routing: { publicUrl: 'https://parley.example', channels: { fcm: channel('fcm'), sms: channel('twilio'), rbm: channel('rbm') } },
        metrics: { listen: { host: '127.0.0.1', port: 9464 } },
      }),
    ).toEqual([]);
  });

  it('names a business policy that needs SMS; an SMS channel without publicUrl is warned about', () => {
    const routing = {
      channels: { apns: channel('apns') },
      businesses: { 'example-bank': { brand: 'Example Bank', policies: { otp: { chain: [{ step: 'sms-token' as const, timeoutMs: 1000 }], otherwise: 'block' as const } } } },
    };
    const sms = serveWarnings({ database: { kind: 'postgres', url: 'postgres://db/p' }, adminToken: 't', routing, metrics: { token: 'm' } }).find((w) => w.code === 'no_sms_channel');
    expect(sms?.message).toContain('example-bank otp');
    expect(codes({ database: { kind: 'postgres', url: 'postgres://db/p' }, adminToken: 't', routing: { channels: { sms: channel('twilio'), apns: channel('apns') } }, metrics: { token: 'm' } })).toEqual([
      'no_rcs_channel',
      'no_public_url',
    ]);
  });

  it('no admin token: the admin API is disabled (the metrics warning is then part of it)', () => {
    const got = codes({ database: { kind: 'postgres', url: 'postgres://db/p' }, adminToken: undefined, routing: { enabled: false }, metrics: {} });
    expect(got).toEqual(['admin_api_disabled']);
  });
});
