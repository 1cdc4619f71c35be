/**
 * The one fault mechanism of the emulators: a switch that makes the emulated provider
 * fail every request in one provider-specific way (503, 500, 429 …) or hang, and the
 * requests a hang holds unanswered until the fault is cleared or the emulator closes.
 *
 * Each emulator maps the fault kinds to its provider's own error answers; only `'hang'`
 * is common to all of them: the request is accepted and never answered.
 */

/** Something an emulator can hold open: an HTTP/1.1 response or an HTTP/2 stream. */
export interface Holdable {
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Requests held unanswered; `releaseAll` cuts them (the client sees the connection or
 * stream end without an answer).
 *
 * @example
 * const held = new HeldRequests<ServerResponse>((res) => res.destroy());
 * held.hold(res);      // never answered …
 * held.releaseAll();   // … until cut
 */
export class HeldRequests<T extends Holdable> {
  private readonly held = new Set<T>();

  constructor(private readonly cut: (request: T) => void) {}

  hold(request: T): void {
    this.held.add(request);
    request.once('close', () => this.held.delete(request));
  }

  releaseAll(): void {
    for (const request of this.held) this.cut(request);
    this.held.clear();
  }
}

/**
 * Which fault the provider has now (none by default). Setting any state other than
 * `'hang'` cuts the requests a hang held.
 *
 * @example
 * const faults = new FaultSwitch<'unavailable' | 'hang', ServerResponse>((res) => res.destroy());
 * faults.set('hang');
 * if (faults.hold(res)) return; // held: no answer
 * faults.set(undefined);         // the held requests are cut
 */
export class FaultSwitch<Kind extends string, T extends Holdable, Options = undefined> {
  private active: { readonly kind: Kind; readonly options: Options | undefined } | undefined;
  private readonly held: HeldRequests<T>;

  constructor(cut: (request: T) => void) {
    this.held = new HeldRequests(cut);
  }

  /** The fault now in force, if any. */
  get kind(): Kind | undefined {
    return this.active?.kind;
  }

  /** The options the fault was set with. */
  get options(): Options | undefined {
    return this.active?.options;
  }

  /** Sets (or, with undefined, clears) the fault. */
  set(kind: Kind | undefined, options?: Options): void {
    this.active = kind === undefined ? undefined : { kind, options };
    if (kind !== 'hang') this.held.releaseAll();
  }

  /** Holds `request` unanswered if the fault is a hang; true when it did. */
  hold(request: T): boolean {
    if (this.active?.kind !== 'hang') return false;
    this.held.hold(request);
    return true;
  }

  /** Cuts every held request (the emulator is closing). */
  releaseAll(): void {
    this.held.releaseAll();
  }
}
