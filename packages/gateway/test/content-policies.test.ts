/**
 * The bank's rule "never send a full card number or IBAN in class alert", enforced by the
 * gateway before anything leaves the bank: the REST API refuses the message (422
 * `content_blocked`; nothing stored, nothing sent), and a redacting rule is applied by the sender
 * before encryption and recorded in the signed commitment (policy id and action only).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardNumberPolicy, ibanPolicy } from '@parley/client';
import { EventLog } from '@parley/test-kit/sdk';
import { call, enrollCustomer, gatewayWorld, type GatewayWorld } from './fixtures.js';
import type { RunningGateway } from '../src/index.js';

let world: GatewayWorld;
let gateway: RunningGateway;

beforeAll(async () => {
  world = await gatewayWorld({ businessId: 'dlp-gw-bank' });
  gateway = await world.start({
    contentPolicies: {
      rules: [
        { policy: cardNumberPolicy({ action: 'block', id: 'card.alert' }), classes: ['alert'], directions: ['send'] },
        { policy: ibanPolicy({ action: 'block', id: 'iban.alert' }), classes: ['alert'], directions: ['send'] },
        { policy: cardNumberPolicy({ action: 'redact', id: 'card.redact' }), directions: ['send'] },
      ],
    },
  });
});
afterAll(async () => world?.close());

describe('gateway content policies', () => {
  it('refuses a card number or an IBAN in class alert with 422 content_blocked, storing nothing', async () => {
    const before = await world.db.query<{ n: number }>('SELECT count(*)::int AS n FROM gateway_messages', []);
    const card = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-2001', class: 'alert', body: 'Card 5555 5555 5555 4444 was charged' });
    expect(card.status).toBe(422);
    expect(card.body.error).toMatchObject({ code: 'content_blocked', details: { policy: 'card.alert' } });
    expect(JSON.stringify(card.body)).not.toContain('4444');
    const iban = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-2001', class: 'alert', body: 'Refund to GB82 WEST 1234 5698 7654 32' });
    expect(iban.body.error).toMatchObject({ code: 'content_blocked', details: { policy: 'iban.alert' } });
    const after = await world.db.query<{ n: number }>('SELECT count(*)::int AS n FROM gateway_messages', []);
    expect(after[0]!.n).toBe(before[0]!.n);
  });

  it('redacts a card number in another class before encryption; the customer and the evidence see the policy', async () => {
    const phone = await enrollCustomer(gateway, world.apiKey, 'c-2002');
    const events = new EventLog(phone);
    await phone.connect();
    const sent = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-2002', class: 'support', body: 'We replaced card 4111-1111-1111-1111.' });
    expect(sent.status).toBe(202);
    const got = await events.waitFor((e) => e.type === 'message' && e.messageId === sent.body.id, 30_000);
    if (got.type !== 'message') throw new Error('unreachable');
    expect(got.text).toBe('We replaced card ••••-••••-••••-1111.');
    expect(got.dlp).toEqual([{ policy: 'card.redact', action: 'redact' }]);
    // The evidence is there once the gateway recorded the send (the customer may decrypt first).
    let evidence = await call(gateway, world.apiKey, 'GET', `/v1/messages/${sent.body.id as string}/evidence`);
    for (let i = 0; i < 100 && evidence.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      evidence = await call(gateway, world.apiKey, 'GET', `/v1/messages/${sent.body.id as string}/evidence`);
    }
    expect(evidence.body.commitment.dlp).toEqual([{ policy: 'card.redact', action: 'redact' }]);
    await phone.close();
  });
});
