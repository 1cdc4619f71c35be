/**
 * Which envelopes and messages a conversation has processed, for duplicate
 * suppression across redelivery and restarts. Kept as a ring of small chunk
 * records (64 ids each, the last 32 chunks), so recording one
 * id rewrites one small record instead of the whole window. The window (1,985
 * to 2,048 ids, as the newest chunk fills) exceeds
 * what the server can have in flight to a device (1,000 unacknowledged).
 */
import { fromUtf8, utf8 } from '@parley/core';
import type { KeyStore, KeyStoreOp } from './key-store.js';

const CHUNK_SIZE = 64;
const MAX_CHUNKS = 32;

interface Chunk {
  no: number;
  ids: string[];
}

export class SeenWindow {
  private constructor(
    private readonly prefix: string,
    private chunks: Chunk[],
    private readonly ids: Set<string>,
  ) {}

  static async load(store: KeyStore, prefix: string): Promise<SeenWindow> {
    const chunks: Chunk[] = [];
    for (const name of await store.list(prefix)) {
      const bytes = await store.get(name);
      if (!bytes) continue;
      const ids = JSON.parse(fromUtf8(bytes)) as unknown;
      if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) continue;
      chunks.push({ no: Number(name.slice(prefix.length)), ids });
    }
    chunks.sort((a, b) => a.no - b.no);
    return new SeenWindow(prefix, chunks, new Set(chunks.flatMap((c) => c.ids)));
  }

  static empty(prefix: string): SeenWindow {
    return new SeenWindow(prefix, [], new Set());
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Store operations recording `ids`, and the function that updates this window
   * once those operations are durable.
   */
  plan(ids: readonly string[]): { ops: KeyStoreOp[]; apply: () => void } {
    const fresh = [...new Set(ids)].filter((id) => !this.ids.has(id));
    if (fresh.length === 0) return { ops: [], apply: () => {} };
    // Only the last chunk changes, plus new ones; older chunks are shared, not copied.
    const kept = this.chunks.slice(0, -1);
    const lastOld = this.chunks[this.chunks.length - 1];
    const tail: Chunk[] = lastOld ? [{ no: lastOld.no, ids: [...lastOld.ids] }] : [];
    const touched = new Set<Chunk>();
    for (const id of fresh) {
      let last = tail[tail.length - 1];
      if (!last || last.ids.length >= CHUNK_SIZE) {
        last = { no: (last?.no ?? lastOld?.no ?? 0) + 1, ids: [] };
        tail.push(last);
      }
      last.ids.push(id);
      touched.add(last);
    }
    const chunks = [...kept, ...tail];
    const dropped = chunks.length > MAX_CHUNKS ? chunks.splice(0, chunks.length - MAX_CHUNKS) : [];
    const ops: KeyStoreOp[] = tail
      .filter((c) => touched.has(c) && !dropped.includes(c))
      .map((c) => ({ op: 'put' as const, name: this.name(c.no), value: utf8(JSON.stringify(c.ids)) }));
    for (const c of dropped) ops.push({ op: 'delete', name: this.name(c.no) });
    return {
      ops,
      apply: () => {
        this.chunks = chunks;
        for (const id of fresh) this.ids.add(id);
        for (const c of dropped) for (const id of c.ids) this.ids.delete(id);
      },
    };
  }

  private name(no: number): string {
    return `${this.prefix}${String(no).padStart(12, '0')}`;
  }
}
