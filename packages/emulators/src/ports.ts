/**
 * A loopback port to hand to a server that must know its own URL before it listens (the demo and
 * the tests tell the provider emulators where to call back, then start the server there).
 *
 * A port taken with `listen(0)` and released again comes from the kernel's ephemeral range
 * (Linux: 32768–60999), the range every other `listen(0)` and every outgoing connection also draws
 * from: between the release and the real `listen`, another process on the host may take it
 * (EADDRINUSE). So the port is picked at random below that range, where the kernel never assigns
 * one by itself, and probed before it is returned; `listen(0)` is only the last resort.
 */
import { createServer } from 'node:net';

/** Ports the kernel does not hand out on its own (below Linux's default ephemeral range). */
const FIRST = 20_000;
const LAST = 32_000;
const TRIES = 64;

/**
 * A loopback port nothing listens on now, probed by binding it.
 *
 * @example
 * const port = await freePort();
 * const providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}` });
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < TRIES; i++) {
    const port = FIRST + Math.floor(Math.random() * (LAST - FIRST));
    if (await canBind(port)) return port;
  }
  return bind(0);
}

function canBind(port: number): Promise<boolean> {
  return bind(port).then(
    () => true,
    () => false,
  );
}

function bind(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = probe.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      probe.close(() => resolve(bound));
    });
  });
}
