/**
 * The SMPP 3.4 adapter against the SMPP emulator (a real SMPP server on loopback, through
 * the `smpp` package): bind, submit_sm, deliver_sm receipts, throttling, errors, timeouts
 * and rebinding after a lost connection.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmppEmulator } from '@parley/emulators';
import { ChannelError, type OutboundEnvelope, type OutboundItem, type Recipient, type StatusEvent } from '../../src/channels/channel.js';
import { SmppChannel, type SmppChannelOptions } from '../../src/channels/smpp.js';
import { parseDeliveryReceipt } from '../../src/channels/smpp-pdu.js';
import { encodeGsm7, encodeSms } from '../../src/channels/sms.js';
import { describeChannelContract } from './contract.js';

const reachable: Recipient = { pseudonym: 'pseudo-smpp-reachable', phone: '+447700900101' };
const dead: Recipient = { pseudonym: 'pseudo-smpp-dead', phone: '+447700900199' };
type LinkItem = Extract<OutboundItem, { kind: 'link' }>;
const linkItem = (code: string): LinkItem => ({
  kind: 'link',
  text: `Example Bank: you have a secure message. Open https://x.test/r/${code}`,
  url: `https://x.test/r/${code}`,
  brand: 'Example Bank',
});

function channelFor(emulator: SmppEmulator, extra: Partial<SmppChannelOptions> = {}): SmppChannel {
  return new SmppChannel({
    host: emulator.host,
    port: emulator.port,
    systemId: emulator.systemId,
    password: emulator.password,
    sourceAddr: 'ExampleBank',
    submitTimeoutMs: 2_000,
    bindTimeoutMs: 2_000,
    reconnect: { initialMs: 50, maxMs: 200 },
    ...extra,
  });
}

let serial = 0;
const envelope = (recipient: Recipient, item: OutboundItem): OutboundEnvelope => ({
  deliveryId: `smpp-delivery-${++serial}`,
  messageId: `smpp-message-${serial}`,
  recipient,
  item,
});

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelError);
  return error as ChannelError;
}

describeChannelContract('smpp', async () => {
  const emulator = await SmppEmulator.start();
  const channel = channelFor(emulator);
  expect(await channel.ready()).toBe(true);
  emulator.invalidDestinations.add(dead.phone!);
  return {
    channel,
    reachable,
    dead,
    items: [linkItem('contract')],
    acceptedCount: (r) => emulator.acceptedFor(r.phone!).length,
    reportDelivered: (messageId) => emulator.receipt(messageId, 'DELIVRD'),
    breakProvider: () => {
      emulator.setBroken(true);
      return Promise.resolve();
    },
    restoreProvider: () => {
      emulator.setBroken(false);
      return Promise.resolve();
    },
    receivedBytes: () => emulator.recorder.bytes(),
    close: () => emulator.close(),
  };
});

describe('SMS encoding and receipt text', () => {
  it('encodes GSM 7-bit (with the extension table) and falls back to UCS-2', () => {
    expect([...encodeGsm7('@£$_ Az09:/?.=&')!]).toEqual([0x00, 0x01, 0x02, 0x11, 0x20, 0x41, 0x7a, 0x30, 0x39, 0x3a, 0x2f, 0x3f, 0x2e, 0x3d, 0x26]);
    expect([...encodeGsm7('~€[]{}\\|^')!]).toEqual([0x1b, 0x3d, 0x1b, 0x65, 0x1b, 0x3c, 0x1b, 0x3e, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x2f, 0x1b, 0x40, 0x1b, 0x14]);
    expect(encodeGsm7('Zürich ok')).toBeDefined(); // ü is in the default alphabet
    expect(encodeGsm7('Łódź')).toBeUndefined();
    expect(encodeSms('Bank: https://x.test/r/a')).toMatchObject({ dataCoding: 0x00, single: true });
    const ucs2 = encodeSms('Bank Łódź https://x.test/r/a');
    expect(ucs2.dataCoding).toBe(0x08);
    expect(Buffer.from(ucs2.bytes).swap16().toString('utf16le')).toBe('Bank Łódź https://x.test/r/a');
    expect(encodeSms('x'.repeat(160)).single).toBe(true);
    expect(encodeSms('x'.repeat(161)).single).toBe(false);
    expect(encodeSms('€'.repeat(80)).single).toBe(true); // 160 septets: each € is escape + code
    expect(encodeSms('€'.repeat(81)).single).toBe(false);
  });

  it('parses the SMPP 3.4 Appendix B receipt text', () => {
    const text = 'id:0123456789 sub:001 dlvrd:001 submit date:2611220423 done date:2611220424 stat:DELIVRD err:000 Text:Example Bank: stat:UNDELIV';
    expect(parseDeliveryReceipt(text)).toEqual({
      id: '0123456789',
      sub: '001',
      dlvrd: '001',
      submitDate: '2611220423',
      doneDate: '2611220424',
      stat: 'DELIVRD',
      err: '000',
    });
    expect(parseDeliveryReceipt('ID:ab12 SUB:1 DLVRD:0 SUBMIT DATE:2611220423 DONE DATE:2611220424 STAT:undeliv ERR:034')).toMatchObject({
      id: 'ab12',
      stat: 'UNDELIV',
      err: '034',
    });
    expect(parseDeliveryReceipt('hello there')).toEqual({});
  });
});

describe('SMPP channel', () => {
  let emulator: SmppEmulator;
  let channel: SmppChannel;
  let events: StatusEvent[];
  const statuses = (id: string): Array<[string, string | undefined]> =>
    events.filter((e) => e.providerMessageId === id).map((e) => [e.status, e.reason]);

  beforeAll(async () => {
    emulator = await SmppEmulator.start();
    channel = channelFor(emulator);
    events = [];
    channel.onStatus((e) => events.push(e));
    expect(await channel.ready()).toBe(true);
  });
  afterEach(() => {
    emulator.throttle = false;
    emulator.systemError = false;
    emulator.noResponse = false;
    emulator.duplicateReceipts = false;
    emulator.receiptTlvs = true;
    emulator.autoReceipt = false;
    emulator.setBroken(false);
  });
  afterAll(async () => {
    await channel.close();
    await emulator.close();
  });

  it('binds as a transceiver and submits the link text, and only that, to the handset', async () => {
    expect(await channel.health()).toMatchObject({ ok: true });
    expect(emulator.boundSessions).toBe(1);
    const item = linkItem('k7Qm2');
    const delivered = new Promise<{ text: string }>((resolve) => emulator.once('sms', resolve));
    const { providerMessageId } = await channel.send(envelope(reachable, item));
    expect(providerMessageId).toMatch(/^\d{10}$/);
    const submission = emulator.submissions.get(providerMessageId)!;
    expect(submission).toMatchObject({
      to: reachable.phone,
      text: item.text,
      dataCoding: 0x00,
      field: 'short_message',
      registeredDelivery: 1,
      sourceAddr: 'ExampleBank',
      sourceTon: 5,
      sourceNpi: 0,
    });
    await emulator.receipt(providerMessageId, 'DELIVRD');
    expect((await delivered).text).toBe(item.text);
    expect(emulator.inbox(reachable.phone!).map((s) => s.text)).toContain(item.text);
    const link = /https?:\/\/\S+/.exec(emulator.inbox(reachable.phone!).at(-1)!.text)?.[0];
    expect(link).toBe(item.url);
    await expect.poll(() => statuses(providerMessageId)).toEqual([['delivered', undefined]]);
    // The wire carries the GSM 7-bit text; nothing of the envelope but the link.
    expect(emulator.recorder.contains(Buffer.from(encodeGsm7(item.text)!))).toBe(true);
    expect(emulator.recorder.contains('smpp-message-')).toBe(false);
  });

  it('sends UCS-2 when needed, and long texts in message_payload', async () => {
    const polish: OutboundItem = { kind: 'link', text: 'Bank Łódź: nowa wiadomość https://x.test/r/pl', url: 'https://x.test/r/pl', brand: 'Bank Łódź' };
    const { providerMessageId: a } = await channel.send(envelope(reachable, polish));
    expect(emulator.submissions.get(a)).toMatchObject({ dataCoding: 0x08, field: 'short_message', text: polish.text });
    const longText = `Example Bank: ${'please read your secure message '.repeat(6)}https://x.test/r/long`;
    const long: OutboundItem = { kind: 'link', text: longText, url: 'https://x.test/r/long', brand: 'Example Bank' };
    const { providerMessageId: b } = await channel.send(envelope(reachable, long));
    expect(longText.length).toBeGreaterThan(160);
    expect(emulator.submissions.get(b)).toMatchObject({ dataCoding: 0x00, field: 'message_payload', text: longText });
  });

  it('parses receipts: delivered, undeliverable, rejected, expired; with or without TLVs; duplicates once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await channel.send(envelope(reachable, linkItem(`r${i}`)))).providerMessageId);
    const [d, u, r, x, t] = ids as [string, string, string, string, string];
    await emulator.receipt(u, 'UNDELIV');
    await emulator.receipt(r, 'REJECTD');
    await emulator.receipt(x, 'EXPIRED');
    emulator.receiptTlvs = false; // text only: id and stat come from the receipt text
    await emulator.receipt(t, 'ENROUTE');
    await emulator.receipt(t, 'DELIVRD');
    emulator.duplicateReceipts = true;
    await emulator.receipt(d, 'DELIVRD');
    await emulator.receipt(d, 'DELIVRD');
    // Out of order: an intermediate state after the final one.
    await emulator.receipt(d, 'ENROUTE');
    await emulator.receipt(d, 'UNDELIV');
    await expect.poll(() => statuses(d)).toEqual([['delivered', undefined]]);
    expect(statuses(u)).toEqual([['failed', 'undeliverable']]);
    expect(statuses(r)).toEqual([['failed', 'undeliverable']]);
    expect(statuses(x)).toEqual([['failed', 'undeliverable']]);
    expect(statuses(t)).toEqual([
      ['accepted', undefined],
      ['delivered', undefined],
    ]);
    expect(events.every((e) => e.channel === 'smpp')).toBe(true);
  });

  it('follows automatic receipts', async () => {
    emulator.autoReceipt = true;
    const gone = { pseudonym: 'p-gone', phone: '+447700900300' };
    emulator.undeliverable.add(gone.phone);
    const { providerMessageId: ok } = await channel.send(envelope(reachable, linkItem('auto')));
    const { providerMessageId: bad } = await channel.send(envelope(gone, linkItem('auto2')));
    await expect.poll(() => statuses(ok), { timeout: 5_000 }).toEqual([['delivered', undefined]]);
    await expect.poll(() => statuses(bad), { timeout: 5_000 }).toEqual([['failed', 'undeliverable']]);
    expect(emulator.inbox(gone.phone)).toEqual([]);
  });

  it('maps throttling, invalid destinations and system errors', async () => {
    emulator.throttle = true;
    const throttled = await failure(channel.send(envelope(reachable, linkItem('t'))));
    expect(throttled).toMatchObject({ channel: 'smpp', reason: 'rate_limited', providerCode: 0x58 });
    expect(throttled.retryable).toBe(true);
    emulator.throttle = false;

    const invalid = { pseudonym: 'p-invalid', phone: '+447700900201' };
    emulator.invalidDestinations.add(invalid.phone);
    const error = await failure(channel.send(envelope(invalid, linkItem('i'))));
    expect(error).toMatchObject({ reason: 'not_capable', providerCode: 0x0b });
    expect(error.retryable).toBe(false);
    expect(await channel.capabilities(invalid)).toMatchObject({ reachable: false, source: 'failure' });

    emulator.systemError = true;
    expect(await failure(channel.send(envelope(reachable, linkItem('s'))))).toMatchObject({ reason: 'unavailable', providerCode: 0x08 });
    emulator.systemError = false;

    // Still bound and working afterwards.
    expect((await channel.send(envelope(reachable, linkItem('after')))).providerMessageId).toMatch(/^\d{10}$/);
  });

  it('maps a missing submit_sm_resp to timeout', async () => {
    const quick = channelFor(emulator, { submitTimeoutMs: 200 });
    try {
      expect(await quick.ready()).toBe(true);
      emulator.noResponse = true;
      const started = Date.now();
      const error = await failure(quick.send(envelope(reachable, linkItem('slow'))));
      expect(error.reason).toBe('timeout');
      expect(error.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect((await quick.health()).ok).toBe(true); // the link itself is alive
    } finally {
      emulator.noResponse = false;
      await quick.close();
    }
  });

  it('rebinds after the SMSC drops the connection, with backoff while it refuses', async () => {
    const bindsBefore = emulator.binds;
    const channelBinds = channel.bindCount;
    emulator.dropConnections();
    await expect.poll(() => channel.bindCount, { timeout: 5_000 }).toBe(channelBinds + 1);
    expect(emulator.binds).toBe(bindsBefore + 1);
    expect((await channel.send(envelope(reachable, linkItem('rebound')))).providerMessageId).toMatch(/^\d{10}$/);

    emulator.setBroken(true);
    await expect.poll(async () => (await channel.health()).ok, { timeout: 5_000 }).toBe(false);
    const down = await failure(channel.send(envelope(reachable, linkItem('down'))));
    expect(down.reason).toBe('unavailable');
    // It keeps trying while refused, without hammering: backoff 50 ms doubling to a 200 ms
    // cap, with jitter between half and all of it, allows 1 to 10 attempts in half a second.
    const connectionsBefore = emulator.connections;
    await new Promise((r) => setTimeout(r, 500));
    const attempts = emulator.connections - connectionsBefore;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(10);
    emulator.setBroken(false);
    await expect.poll(async () => (await channel.health()).ok, { timeout: 5_000 }).toBe(true);
    expect((await channel.send(envelope(reachable, linkItem('back')))).providerMessageId).toMatch(/^\d{10}$/);
  });

  it('receipts sent while the ESME was away arrive after the rebind', async () => {
    const { providerMessageId } = await channel.send(envelope(reachable, linkItem('later')));
    emulator.setBroken(true);
    await expect.poll(async () => (await channel.health()).ok, { timeout: 5_000 }).toBe(false);
    const receipt = emulator.receipt(providerMessageId, 'DELIVRD'); // queued: nobody bound
    emulator.setBroken(false);
    await receipt;
    await expect.poll(() => statuses(providerMessageId), { timeout: 5_000 }).toEqual([['delivered', undefined]]);
  });

  it('refuses a wrong password and reports it in health', async () => {
    const wrong = channelFor(emulator, { password: 'wrong' });
    try {
      expect(await wrong.ready()).toBe(false);
      const health = await wrong.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toContain('bind refused (command_status 0x0000000e)');
      expect(await failure(wrong.send(envelope(reachable, linkItem('w'))))).toMatchObject({ reason: 'unavailable' });
    } finally {
      await wrong.close();
    }
  });

  it('answers enquire_link and keeps the session alive with its own', async () => {
    const chatty = channelFor(emulator, { enquireLinkIntervalMs: 50, enquireLinkTimeoutMs: 500 });
    try {
      expect(await chatty.ready()).toBe(true);
      const before = emulator.enquireLinks;
      // Several enquire_links went out and were answered; the session stayed up on one bind.
      await expect.poll(() => emulator.enquireLinks - before, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
      expect(chatty.bindCount).toBe(1);
      expect((await chatty.health()).ok).toBe(true);
    } finally {
      await chatty.close();
    }
  });

  it('refuses items SMS must not carry', async () => {
    for (const item of [
      { kind: 'wake', collapseId: 'c' },
      { kind: 'ciphertext', bytes: new Uint8Array([1]), contentType: 'message/mls' },
    ] as const) {
      expect(await failure(channel.send(envelope(reachable, item)))).toMatchObject({ reason: 'unsupported_item' });
    }
  });
});
