/**
 * Lean raw-protocol clients for the cluster benchmark's reference systems: core NATS
 * (the text protocol: CONNECT / SUB / PUB / MSG / PING / PONG) and MQTT 3.1.1 (CONNECT,
 * SUBSCRIBE, PUBLISH QoS 1, PUBACK). One socket write per message and a small parser
 * per connection, like the Parley clients (bench/cluster-clients.ts) that speak the raw
 * WebSocket frames: the official client libraries (`nats`, `mqtt`) spend several times
 * more client CPU per message, and on a 2-core machine the load generator would then
 * limit the baseline instead of the broker. The libraries stay available (`lib`).
 */
import { connect as netConnect, type Socket } from 'node:net';

const CRLF = Buffer.from('\r\n');

function openSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    const onError = (error: Error) => reject(error);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || defaultPort) };
}

// --- NATS -----------------------------------------------------------------------------

/** Called with each message on a subscribed subject. */
export type NatsHandler = (subject: string, reply: string | undefined, payload: Buffer) => void;

/** One core-NATS connection (no reconnects, no headers, echo off). */
export class RawNats {
  private pending: Buffer | undefined;
  private readonly handlers = new Map<string, NatsHandler>();
  private readonly pongs: (() => void)[] = [];
  private nextSid = 1;
  onError: (text: string) => void = () => {};

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => this.onError(`nats socket: ${error.message}`));
  }

  /** Connects, sends CONNECT, and resolves after the server answered a PING (the connection is registered). */
  static async connect(url: string, name: string): Promise<RawNats> {
    const { host, port } = hostPort(url, 4222);
    const socket = await openSocket(host, port);
    const nats = new RawNats(socket);
    const connect = { verbose: false, pedantic: false, echo: false, headers: false, no_responders: false, protocol: 1, name, lang: 'raw-bench', version: '0' };
    socket.write(`CONNECT ${JSON.stringify(connect)}\r\n`);
    await nats.flush();
    return nats;
  }

  /** Subscribes; the handler gets every message on `subject`. */
  subscribe(subject: string, handler: NatsHandler): void {
    const sid = String(this.nextSid++);
    this.handlers.set(sid, handler);
    this.socket.write(`SUB ${subject} ${sid}\r\n`);
  }

  publish(subject: string, payload: Buffer, reply?: string): void {
    const head = reply === undefined ? `PUB ${subject} ${payload.length}\r\n` : `PUB ${subject} ${reply} ${payload.length}\r\n`;
    this.socket.write(Buffer.concat([Buffer.from(head), payload, CRLF]));
  }

  /** PING → PONG: everything written before has been processed by the server. */
  flush(timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('NATS: no PONG')), timeoutMs);
      this.pongs.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.write('PING\r\n');
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => (this.socket.destroy(), resolve()), 2000).unref();
    });
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    for (;;) {
      const eol = buf.indexOf(CRLF, off);
      if (eol < 0) break;
      // Control lines are short ASCII; MSG lines carry the payload size.
      if (buf[off] === 0x4d /* M */ && buf[off + 1] === 0x53 /* S */ && buf[off + 2] === 0x47 /* G */) {
        const parts = buf.toString('latin1', off + 4, eol).split(' ');
        const size = Number(parts[parts.length - 1]);
        const start = eol + 2;
        if (buf.length < start + size + 2) break; // wait for the rest of the payload
        const payload = buf.subarray(start, start + size);
        const handler = this.handlers.get(parts[1]!);
        off = start + size + 2;
        handler?.(parts[0]!, parts.length === 4 ? parts[2] : undefined, payload);
        continue;
      }
      const line = buf.toString('latin1', off, eol);
      off = eol + 2;
      if (line === 'PING') this.socket.write('PONG\r\n');
      else if (line === 'PONG') this.pongs.shift()?.();
      else if (line.startsWith('-ERR')) this.onError(`nats: ${line}`);
      // INFO and +OK need no answer.
    }
    this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined;
  }
}

// --- MQTT 3.1.1 -------------------------------------------------------------------------

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

function mqttString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), remainingLength(body.length), body]);
}

/** One MQTT 3.1.1 connection: clean session, no keepalive pings, QoS 1 publish and subscribe. */
export class RawMqtt {
  private pending: Buffer | undefined;
  private nextId = 1;
  private readonly acks = new Map<number, () => void>();
  private readonly waiting = new Map<number, (packet: Buffer) => void>();
  private onMessage: (topic: string, payload: Buffer) => void = () => {};
  onError: (text: string) => void = () => {};

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => this.onError(`mqtt socket: ${error.message}`));
  }

  /** Connects (CONNECT → CONNACK). */
  static async connect(url: string, clientId: string): Promise<RawMqtt> {
    const { host, port } = hostPort(url, 1883);
    const socket = await openSocket(host, port);
    const mqtt = new RawMqtt(socket);
    const connack = new Promise<Buffer>((resolve) => mqtt.waiting.set(0x20, resolve));
    // Protocol name, level 4, flags: clean session; keepalive 0 (none); payload: client id.
    const body = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0x02, 0, 0]), mqttString(clientId)]);
    socket.write(packet(0x10, body));
    const ack = await within(connack, 20_000, 'MQTT: no CONNACK');
    if (ack[ack.length - 1] !== 0) throw new Error(`MQTT: connection refused (${ack[ack.length - 1]})`);
    return mqtt;
  }

  /** SUBSCRIBE at QoS 1 → SUBACK; incoming messages go to `handler` (acknowledged with PUBACK). */
  async subscribe(topic: string, handler: (topic: string, payload: Buffer) => void): Promise<void> {
    this.onMessage = handler;
    const id = this.packetId();
    const suback = new Promise<Buffer>((resolve) => this.waiting.set(0x90, resolve));
    const pid = Buffer.allocUnsafe(2);
    pid.writeUInt16BE(id, 0);
    this.socket.write(packet(0x82, Buffer.concat([pid, mqttString(topic), Buffer.from([1])])));
    const ack = await within(suback, 20_000, 'MQTT: no SUBACK');
    if (ack[ack.length - 1] === 0x80) throw new Error(`MQTT: subscription to ${topic} refused`);
  }

  /** PUBLISH at QoS 1; `onAck` runs at the broker's PUBACK. */
  publish(topic: string, payload: Buffer, onAck: () => void): void {
    const id = this.packetId();
    this.acks.set(id, onAck);
    const t = mqttString(topic);
    const head = Buffer.allocUnsafe(t.length + 2);
    t.copy(head, 0);
    head.writeUInt16BE(id, t.length);
    this.socket.write(Buffer.concat([Buffer.from([0x32]), remainingLength(head.length + payload.length), head, payload]));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end(Buffer.from([0xe0, 0])); // DISCONNECT
      setTimeout(() => (this.socket.destroy(), resolve()), 2000).unref();
    });
  }

  private packetId(): number {
    const id = this.nextId;
    this.nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (off + 2 <= buf.length) {
      let len = 0;
      let mul = 1;
      let i = off + 1;
      let complete = false;
      while (i < buf.length && i < off + 5) {
        const b = buf[i++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || i + len > buf.length) break;
      const first = buf[off]!;
      const type = first & 0xf0;
      const body = buf.subarray(i, i + len);
      off = i + len;
      if (type === 0x30) {
        this.onPublish(body, (first >> 1) & 3); // PUBLISH from the broker; QoS from the flags
      } else if (type === 0x40) {
        const id = body.readUInt16BE(0);
        const cb = this.acks.get(id);
        this.acks.delete(id);
        cb?.();
      } else {
        const w = this.waiting.get(type);
        if (w) {
          this.waiting.delete(type);
          w(Buffer.from(body));
        }
      }
    }
    this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined;
  }

  private onPublish(body: Buffer, qos: number): void {
    const tlen = body.readUInt16BE(0);
    const topic = body.toString('utf8', 2, 2 + tlen);
    let p = 2 + tlen;
    if (qos > 0) {
      const id = body.readUInt16BE(p);
      p += 2;
      this.socket.write(Buffer.from([0x40, 2, id >> 8, id & 0xff]));
    }
    this.onMessage(topic, body.subarray(p));
  }
}

function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}
