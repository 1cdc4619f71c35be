/**
 * Fastify's own schema compilers — Ajv for request validation, fast-json-stringify for
 * responses, with the options Fastify gives them — compiled on a route's first use instead of
 * when the route is registered. Compiling the ~100 routes' schemas cost ~0.3 s of CPU on the
 * start-up path (issue 18); now the node is ready first and {@link LazySchemas.compileAll}
 * compiles them right after, one per event-loop turn, so a schema error is still reported at
 * start (logged, a second after the node is ready) and a first request rarely pays. Validation and serialisation are exactly
 * Fastify's: the same factories, the same schemas, the same errors.
 */
import type AjvCompiler from '@fastify/ajv-compiler';
import type SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';
import { lazyCommonJs } from '../util/lazy-commonjs.js';

/**
 * The compilers themselves (Ajv, fast-json-stringify: ~100 CommonJS modules, ~60 ms) are
 * required with the first compilation too, so a start does not load them before it is ready.
 */
const ajvCompiler = lazyCommonJs<typeof AjvCompiler>('@fastify/ajv-compiler');
const serializerSelector = lazyCommonJs<typeof SerializerSelector>('@fastify/fast-json-stringify-compiler');

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type BuildValidator = NonNullable<CompilersFactory['buildValidator']>;
type BuildSerializer = NonNullable<CompilersFactory['buildSerializer']>;

/** An Ajv validate function as Fastify calls it (`errors` after a failure; `schemaEnv` on Ajv's own). */
interface ValidateFunction {
  (data: unknown, context?: unknown): unknown;
  errors?: unknown;
  schemaEnv?: unknown;
}

/**
 * @example
 * const schemas = new LazySchemas();
 * const app = Fastify({ schemaController: { compilersFactory: schemas.factory() } });
 * await app.listen(…);
 * void schemas.compileAll((error) => log.error({ err: error }, 'schema'));
 */
export class LazySchemas {
  /** Compilations not run yet. */
  private readonly pending = new Set<() => void>();

  /** The compilers factory for Fastify's `schemaController` option. */
  factory(): CompilersFactory {
    // One selector each per factory, as Fastify makes them (they cache a compiler per set of external schemas and options).
    type Validators = (...args: Parameters<BuildValidator>) => (route: unknown) => ValidateFunction;
    type Serializers = (...args: Parameters<BuildSerializer>) => (route: unknown) => (data: unknown) => string;
    let validators: Validators | undefined;
    let serializers: Serializers | undefined;
    const buildValidator = ((...[externalSchemas, options]: Parameters<BuildValidator>) => {
      let compiler: ((route: unknown) => ValidateFunction) | undefined;
      const compile = (route: unknown) => {
        validators ??= ajvCompiler()() as unknown as Validators;
        return (compiler ??= validators(externalSchemas, options))(route);
      };
      return (route: unknown) => {
        let compiled: ValidateFunction | undefined;
        const ensure = (): ValidateFunction => (compiled ??= compile(route));
        const validate: ValidateFunction = (data, context) => {
          const fn = ensure();
          const result = context === undefined ? fn(data) : fn(data, context);
          validate.errors = fn.errors;
          return result;
        };
        // Fastify hands Ajv's functions the request as the value's parent (so Ajv can replace a
        // root value); every function this factory builds is Ajv's, so it takes it too.
        validate.schemaEnv = true;
        this.track(() => void ensure());
        return validate;
      };
    }) as BuildValidator;
    const buildSerializer = ((...[externalSchemas, options]: Parameters<BuildSerializer>) => {
      let compiler: ((route: unknown) => (data: unknown) => string) | undefined;
      const compile = (route: unknown) => {
        serializers ??= serializerSelector()() as unknown as Serializers;
        return (compiler ??= serializers(externalSchemas, options))(route);
      };
      return (route: unknown) => {
        let compiled: ((data: unknown) => string) | undefined;
        const ensure = () => (compiled ??= compile(route));
        this.track(() => void ensure());
        return (data: unknown) => ensure()(data);
      };
    }) as BuildSerializer;
    return { buildValidator, buildSerializer };
  }

  /**
   * After `delayMs` (the node's first requests — readiness probes — go first), compiles every
   * schema not used yet, one per event-loop turn; `onError` gets a schema that does not compile.
   */
  async compileAll(onError: (error: unknown) => void, delayMs = 0): Promise<void> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    for (const compile of [...this.pending]) {
      this.pending.delete(compile);
      await new Promise((resolve) => setImmediate(resolve));
      try {
        compile();
      } catch (error) {
        onError(error);
      }
    }
  }

  private track(compile: () => void): void {
    this.pending.add(compile);
  }
}
