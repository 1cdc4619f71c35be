/**
 * The cluster benchmark's Parley transport: the raw wire protocol over WebSocket
 * (lib/ws-client.ts), sender and recipient on the nodes bench/cluster.ts names.
 */
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { inPool, within } from '../lib/async.js';
import { ENVELOPE_ID_RE, ackFrame, ackWelcome, authenticate, deliverFrame, openWs, submitAnswers, submitFramer } from '../lib/ws-client.js';
import type { Loop, PairState, Transport } from './transport.js';

/**
 * Opens each pair's recipient and sender sockets, waits for the Welcome when the spec
 * expects one, and keeps `windowPerSender` submits in flight per sender.
 *
 * @example
 * const transport = parleyTransport(loop);
 * await transport.connect();
 */
export function parleyTransport(loop: Loop): Transport {
  const specs = loop.spec.parley ?? [];
  const sockets: WebSocket[] = [];
  const pairs: PairState[] = [];
  return {
    pairs,
    async connect() {
      const built = new Array<PairState>(specs.length);
      await inPool(specs, loop.spec.connectConcurrency, async (p, i) => {
        // Recipient first, so its Welcome (queued at group creation) is read on connect.
        const rx = await openWs(p.receiverWs);
        sockets.push(rx);
        const tx = await openWs(p.senderWs);
        sockets.push(tx);
        /** Envelope id → sequence number, from `submitted`. */
        const seqOfId = new Map<string, number>();
        /** Envelope ids delivered before their `submitted` arrived → time. */
        const early = new Map<string, number>();
        const seen = new Set<string>();
        const submitFrame = submitFramer(loop.spec.tag, p.conversationId, p.messages);
        const state: PairState = {
          index: loop.spec.firstPair + i,
          pending: new Map(),
          nextSeq: 0,
          fill() {
            while (loop.sending() && state.pending.size < loop.spec.windowPerSender && tx.readyState === tx.OPEN) {
              const s = state.nextSeq++;
              loop.sent(state, s);
              tx.send(submitFrame(s));
            }
          },
        };
        let welcomed!: () => void;
        const welcome = new Promise<void>((r) => (welcomed = r));
        let gotWelcome = loop.spec.expectWelcome !== true;
        if (gotWelcome) welcomed();
        tx.on('message', (data: WebSocket.RawData) => {
          const now = performance.now();
          for (const f of submitAnswers(String(data))) {
            if (f.type === 'submitted' && f.requestId !== undefined && f.result) {
              const seq = Number(f.requestId);
              const id = f.result.id;
              const at = early.get(id);
              loop.acked(state, seq, now);
              if (at !== undefined) {
                early.delete(id);
                loop.delivered(state, seq, at);
              } else seqOfId.set(id, seq);
            } else if (f.type === 'error') {
              if (f.requestId !== undefined) loop.failed(state, Number(f.requestId), JSON.stringify(f));
              else loop.error(JSON.stringify(f));
            }
          }
        });
        rx.on('message', (data: WebSocket.RawData) => {
          const now = performance.now();
          const text = deliverFrame(String(data), (e) => loop.error(e));
          if (text === undefined) return;
          if (!gotWelcome) {
            if (ackWelcome(rx, text)) {
              gotWelcome = true;
              welcomed();
            }
            return;
          }
          const ids: string[] = [];
          for (const m of text.matchAll(ENVELOPE_ID_RE)) {
            const id = m[1]!;
            ids.push(id);
            if (seen.has(id)) {
              loop.duplicate(`envelope ${id} delivered again`);
              continue;
            }
            seen.add(id);
            const seq = seqOfId.get(id);
            if (seq !== undefined) {
              seqOfId.delete(id);
              loop.delivered(state, seq, now);
            } else early.set(id, now);
          }
          if (ids.length > 0) rx.send(ackFrame(ids));
        });
        const closed = (who: string) => () => {
          if (loop.sending()) loop.error(`${who} socket of pair ${state.index} closed during the load`);
        };
        rx.on('close', closed('recipient'));
        tx.on('close', closed('sender'));
        await authenticate(rx, p.receiverToken, 20_000);
        await authenticate(tx, p.senderToken, 20_000);
        if (!(await within(welcome, 30_000))) throw new Error(`pair ${state.index}: the recipient did not get its Welcome`);
        built[i] = state;
      });
      pairs.push(...built);
      return sockets.length;
    },
    async close() {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === ws.CLOSED) return resolve();
              ws.once('close', () => resolve());
              ws.close();
              setTimeout(() => (ws.terminate(), resolve()), 2000).unref();
            }),
        ),
      );
    },
  };
}
