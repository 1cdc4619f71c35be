/**
 * Loading a PKCS#11 module through pkcs11js (loaded lazily: a machine without the native
 * binding fails with `pkcs11_unavailable` only when PKCS#11 is asked for), and the
 * process-wide registry of loaded modules. A module is initialised once per process
 * (C_Initialize; a second one returns CKR_CRYPTOKI_ALREADY_INITIALIZED) and finalised when
 * its last user releases it, so every signer and wrapper of a process shares one.
 */
import { createRequire } from 'node:module';
import type * as Pkcs11Js from 'pkcs11js';
import { CustodyError } from '../errors.js';

/** The pkcs11js module's exports (the PKCS11 class and the CK* constants). */
export type Pkcs11Binding = typeof Pkcs11Js;
/** One loaded module's function table. */
export type Pkcs11 = Pkcs11Js.PKCS11;
/** A slot, session or object handle. */
export type Handle = Pkcs11Js.Handle;

let binding: Pkcs11Binding | undefined;

/**
 * The pkcs11js binding, loaded on first use; `pkcs11_unavailable` (naming the fix) when it
 * is not installed or not built for this Node.
 *
 * @example
 * const { CKO_PRIVATE_KEY } = loadBinding()
 */
export function loadBinding(): Pkcs11Binding {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)('pkcs11js') as Pkcs11Binding;
    return binding;
  } catch (error) {
    throw new CustodyError(
      'pkcs11_unavailable',
      'PKCS#11 needs the pkcs11js native binding, which is not installed or not built for this Node: run `npm install pkcs11js@2.1.7` (or `npm rebuild pkcs11js`; it needs python3, make and a C++ compiler)',
      { cause: error },
    );
  }
}

/**
 * The CKR_ name of a PKCS#11 failure (pkcs11js's Pkcs11Error), or undefined for anything else.
 *
 * @example
 * ckrOf(error) // 'CKR_PIN_INCORRECT'
 */
export function ckrOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const m = /\b(CKR_[A-Z0-9_]+)/.exec(error.message);
  return m ? m[1] : undefined;
}

/**
 * A `pkcs11_failed` error naming the operation and the CKR_ value — never the arguments
 * (a PIN, a key) nor the native error itself.
 *
 * @example
 * throw pkcs11Failure('C_Sign', error)
 */
export function pkcs11Failure(operation: string, error: unknown): CustodyError {
  if (error instanceof CustodyError) return error;
  const ckr = ckrOf(error) ?? 'unknown';
  return new CustodyError('pkcs11_failed', `the PKCS#11 call ${operation} failed: ${ckr}`, { details: { operation, ckr } });
}

interface LoadedModule {
  readonly path: string;
  readonly pkcs11: Pkcs11;
  refs: number;
  /** False when another library of this process had initialised it: then it is never finalised here. */
  readonly ownsInit: boolean;
}

/** Shared by every copy of this file in the process (sources and dist may both be loaded): the native state is per process. */
const REGISTRY_KEY = Symbol.for('parley.custody.pkcs11.modules');

function registry(): Map<string, LoadedModule> {
  const holder = globalThis as { [REGISTRY_KEY]?: Map<string, LoadedModule> };
  return (holder[REGISTRY_KEY] ??= new Map());
}

/**
 * A handle on a loaded, initialised module; {@link ModuleRef.release} it when done.
 *
 * @example
 * const ref = acquireModule('/usr/lib/softhsm/libsofthsm2.so')
 * try { ref.pkcs11.C_GetSlotList(true) } finally { ref.release() }
 */
export interface ModuleRef {
  readonly path: string;
  readonly pkcs11: Pkcs11;
  readonly binding: Pkcs11Binding;
  release(): void;
}

/**
 * Loads and initialises the module at `path` (once per process), counting users.
 *
 * @example
 * const ref = acquireModule(resolveModulePath(uri))
 */
export function acquireModule(path: string): ModuleRef {
  const b = loadBinding();
  const modules = registry();
  let loaded = modules.get(path);
  if (loaded === undefined) {
    const pkcs11 = new b.PKCS11();
    try {
      pkcs11.load(path);
    } catch (error) {
      throw new CustodyError('pkcs11_module_failed', `the PKCS#11 module ${path} cannot be loaded (is it installed? set module-path or PARLEY_PKCS11_MODULE)`, {
        details: { path, ckr: ckrOf(error) },
      });
    }
    let ownsInit = true;
    try {
      pkcs11.C_Initialize({ flags: b.CKF_OS_LOCKING_OK });
    } catch (error) {
      if (ckrOf(error) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') ownsInit = false;
      else throw new CustodyError('pkcs11_module_failed', `the PKCS#11 module ${path} does not initialise: ${ckrOf(error) ?? 'error'}`, { details: { path, ckr: ckrOf(error) } });
    }
    loaded = { path, pkcs11, refs: 0, ownsInit };
    modules.set(path, loaded);
  }
  loaded.refs++;
  const entry = loaded;
  let released = false;
  return {
    path,
    pkcs11: entry.pkcs11,
    binding: b,
    release: () => {
      if (released) return;
      released = true;
      entry.refs--;
      if (entry.refs > 0) return;
      modules.delete(path);
      if (!entry.ownsInit) return;
      try {
        entry.pkcs11.C_Finalize();
      } catch {
        // Already finalised: nothing left to release.
      }
    },
  };
}
