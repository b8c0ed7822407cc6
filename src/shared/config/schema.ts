/**
 * A small schema builder for JSON documents, with TypeScript inference: the output type
 * of a schema is `Infer<typeof schema>`, so raw config types are derived from the one
 * description of the format (mosn-schema.ts) instead of being written twice.
 *
 * Validation never stops at the first problem: every problem is recorded in a `Ctx` with
 * its JSON path (`servers[0].listeners[1].address`), the offending value and what was
 * expected. A bad optional field is reported and dropped (so the rest of the document can
 * still be cross-checked); a bad required field makes its enclosing object invalid, and
 * invalid array items are dropped.
 *
 * Object keys are matched like Go's encoding/json does (what MOSN uses): exact name
 * first, then case-insensitively, so MOSN examples writing `"Name"` load.
 */

import type { ConfigIssue } from './model';
import { parseDuration } from '../duration';

/** Where problems are collected during one validation run. */
export class Ctx {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

/** Marks a value that failed validation (its problems are already in the Ctx). */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

type Run<T> = (value: unknown, path: string, ctx: Ctx) => T | Invalid;

export class Schema<T> {
  /** Phantom field carrying the output type for `Infer`. */
  declare readonly _type: T;

  constructor(
    /** What a valid value looks like, used after "expected" in messages. */
    readonly expected: string,
    private readonly run: Run<T>,
    /** Absent (or null) is fine; then `fallback` is used if set. */
    readonly isOptional = false,
    readonly fallback?: { value: T },
  ) {}

  /** Validates `value` found at `path`; problems go to `ctx`. */
  parse(value: unknown, path: string, ctx: Ctx): T | Invalid {
    return this.run(value, path, ctx);
  }

  optional(): Schema<T | undefined> {
    return new Schema<T | undefined>(this.expected, this.run, true);
  }

  /** Optional, with a value used when the key is absent. */
  default(value: T): Schema<T> {
    return new Schema<T>(this.expected, this.run, true, { value });
  }

  /** An extra check on a valid value: `"x" <problem>; expected <expected>` when it fails. */
  refine(test: (v: T) => boolean, problem: string, expected = this.expected): Schema<T> {
    return new Schema<T>(
      expected,
      (value, path, ctx) => {
        const out = this.run(value, path, ctx);
        if (out === INVALID) return out;
        if (!test(out)) return fail(ctx, path, value, problem, expected);
        return out;
      },
      this.isOptional,
      this.fallback,
    );
  }

}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/**
 * Every object a schema outputs remembers the JSON path it was read from (a hidden,
 * non-enumerable property), so later cross-checks name the right place even after
 * invalid array items were dropped.
 */
const PATH = Symbol('config-path');

export function pathOf(o: object): string {
  return (o as { [PATH]?: string })[PATH] ?? '';
}

function withPath<T extends object>(o: T, path: string): T {
  Object.defineProperty(o, PATH, { value: path, enumerable: false });
  return o;
}

type Shape = Record<string, Schema<any>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: undefined extends Infer<S[K]> ? K : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

// ---------------------------------------------------------------------------------------
// Messages

const SHOW_MAX = 60;

/** A short JSON-ish rendering of a value for messages. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > SHOW_MAX ? `${text.slice(0, SHOW_MAX - 3)}...` : text;
}

function fail(ctx: Ctx, path: string, value: unknown, problem: string, expected: string): Invalid {
  ctx.error(path, `${show(value)} ${problem}; expected ${expected}`);
  return INVALID;
}

/** `a.b`, `a[0]`, or `a["odd key"]` for keys that are not plain identifiers. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base ? `${base}.${key}` : key;
}

/**
 * Zero values (false, 0, "", [], null, and objects holding only zero values, as Go marshals
 * an unused struct) say nothing: a key set to one is not worth a warning.
 */
export function isEmptyValue(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isPlainObject(v)) return Object.values(v).every(isEmptyValue);
  return false;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------
// Scalars

export function string(opts: { nonEmpty?: boolean; expected?: string } = {}): Schema<string> {
  const expected = opts.expected ?? (opts.nonEmpty ? 'a non-empty string' : 'a string');
  return new Schema(expected, (v, path, ctx) => {
    if (typeof v !== 'string') return fail(ctx, path, v, 'is not a string', expected);
    if (opts.nonEmpty && v.length === 0) return fail(ctx, path, v, 'is empty', expected);
    return v;
  });
}

export function boolean(): Schema<boolean> {
  return new Schema('true or false', (v, path, ctx) =>
    typeof v === 'boolean' ? v : fail(ctx, path, v, 'is not a boolean', 'true or false'),
  );
}

function rangeText(kind: string, min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${kind} from ${min} to ${max}`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

export function number(opts: { min?: number; max?: number; integer?: boolean; expected?: string } = {}): Schema<number> {
  const kind = opts.integer ? 'an integer' : 'a number';
  const expected = opts.expected ?? rangeText(kind, opts.min, opts.max);
  return new Schema(expected, (v, path, ctx) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(ctx, path, v, 'is not a number', expected);
    if (opts.integer && !Number.isInteger(v)) return fail(ctx, path, v, 'is not an integer', expected);
    if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
      return fail(ctx, path, v, 'is out of range', expected);
    }
    return v;
  });
}

export function integer(opts: { min?: number; max?: number; expected?: string } = {}): Schema<number> {
  return number({ ...opts, integer: true });
}

/**
 * One of a fixed set of strings. `caseInsensitive` accepts any spelling and outputs the
 * canonical one. `notImplemented` lists values MOSN knows that mosnd does not do yet:
 * they fail with that reason rather than "not one of".
 */
export function enumOf<const V extends string>(
  values: readonly V[],
  opts: { caseInsensitive?: boolean; notImplemented?: readonly string[]; expected?: string } = {},
): Schema<V> {
  const expected = opts.expected ?? `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`;
  const fold = (s: string) => (opts.caseInsensitive ? s.toLowerCase() : s);
  return new Schema(expected, (v, path, ctx) => {
    if (typeof v !== 'string') return fail(ctx, path, v, 'is not a string', expected);
    const hit = values.find((x) => fold(x) === fold(v));
    if (hit !== undefined) return hit;
    if (opts.notImplemented?.some((x) => fold(x) === fold(v))) {
      return fail(ctx, path, v, 'is not implemented by mosnd yet', expected);
    }
    return fail(ctx, path, v, 'is not supported', expected);
  });
}

/**
 * A Go duration (MOSN's api.DurationConfig): a string such as "15s", or the bare number 0
 * (Go's parser accepts the unquoted JSON token "0" too). Output: milliseconds.
 * `nanosNumbers` also accepts any number as nanoseconds, for fields MOSN declares as a
 * plain time.Duration (whose JSON form is an integer count of nanoseconds).
 */
export function duration(opts: { nanosNumbers?: boolean } = {}): Schema<number> {
  const expected = opts.nanosNumbers
    ? 'a duration such as "15s", "500ms" or "1m30s" (or a number of nanoseconds)'
    : 'a duration such as "15s", "500ms" or "1m30s"';
  return new Schema(expected, (v, path, ctx) => {
    if (typeof v === 'number') {
      if (v === 0) return 0;
      if (opts.nanosNumbers && Number.isFinite(v) && v > 0) return v / 1e6;
      return fail(ctx, path, v, 'is not a valid duration (a number needs a unit)', expected);
    }
    if (typeof v !== 'string') return fail(ctx, path, v, 'is not a valid duration', expected);
    const ms = parseDuration(v);
    if (ms === undefined) return fail(ctx, path, v, 'is not a valid duration', expected);
    if (ms < 0) return fail(ctx, path, v, 'is negative', expected);
    return ms;
  });
}

/** Anything at all, passed through (opaque blobs such as metadata or plugin configs). */
export function any(expected = 'any JSON value'): Schema<unknown> {
  return new Schema<unknown>(expected, (v) => v);
}

// ---------------------------------------------------------------------------------------
// Containers

export function array<S extends Schema<any>>(item: S, opts: { expected?: string } = {}): Schema<Infer<S>[]> {
  const expected = opts.expected ?? `an array of ${item.expected}`;
  return new Schema(expected, (v, path, ctx) => {
    if (!Array.isArray(v)) return fail(ctx, path, v, 'is not an array', expected);
    const out: Infer<S>[] = [];
    v.forEach((el, i) => {
      const r = item.parse(el, joinPath(path, i), ctx);
      if (r !== INVALID) out.push(r as Infer<S>);
    });
    return out;
  });
}

export interface ObjectOptions {
  /** Keys MOSN knows that mosnd ignores: a warning when set to a non-empty value. */
  notImplemented?: readonly string[];
  /**
   * Keys MOSN knows whose meaning mosnd cannot honour and cannot safely ignore (ignoring
   * would change what traffic goes where): an error when set to a non-empty value.
   * The value is the reason, appended to the message.
   */
  unsupported?: Readonly<Record<string, string>>;
  /** Text after "expected" when the value is not an object. */
  expected?: string;
}

/** Finds `key` among `names`: exact first, then case-insensitively (Go's encoding/json rule). */
function matchKey(key: string, names: readonly string[]): string | undefined {
  if (names.includes(key)) return key;
  const lower = key.toLowerCase();
  return names.find((n) => n.toLowerCase() === lower);
}

export function object<S extends Shape>(shape: S, opts: ObjectOptions = {}): Schema<ObjectOf<S>> {
  const expected = opts.expected ?? 'an object';
  const known = Object.keys(shape);
  const notImplemented = opts.notImplemented ?? [];
  const unsupported = Object.keys(opts.unsupported ?? {});
  return new Schema(expected, (v, path, ctx) => {
    if (!isPlainObject(v)) return fail(ctx, path, v, 'is not an object', expected);
    const given = new Map<string, string>(); // schema key -> key as written
    for (const key of Object.keys(v)) {
      const at = joinPath(path, key);
      const k = matchKey(key, known);
      if (k !== undefined) {
        const first = given.get(k);
        if (first !== undefined) ctx.warn(at, `duplicate of key "${first}", ignored`);
        else given.set(k, key);
        continue;
      }
      const u = matchKey(key, unsupported);
      const mosnKey = u !== undefined || matchKey(key, notImplemented) !== undefined;
      if (!mosnKey) ctx.warn(at, 'unknown key, ignored');
      else if (isEmptyValue(v[key])) continue; // a MOSN key left at its zero value changes nothing
      else if (u !== undefined) ctx.error(at, `is not implemented by mosnd yet: ${opts.unsupported![u]}`);
      else ctx.warn(at, 'not implemented by mosnd yet, ignored');
    }
    const out: Record<string, unknown> = {};
    let ok = true;
    for (const k of known) {
      const schema = shape[k];
      const written = given.get(k);
      const value = written === undefined ? undefined : v[written];
      const at = joinPath(path, written ?? k);
      if (value === undefined || value === null) {
        if (schema.fallback) out[k] = structuredClone(schema.fallback.value); // never share a default between documents
        else if (!schema.isOptional) {
          ctx.error(at, `missing; expected ${schema.expected}`);
          ok = false;
        }
        continue;
      }
      const r = schema.parse(value, at, ctx);
      if (r === INVALID) {
        if (!schema.isOptional) ok = false;
        else if (schema.fallback) out[k] = structuredClone(schema.fallback.value); // never share a default between documents
      } else if (r !== undefined) {
        out[k] = r;
      }
    }
    return ok ? withPath(out as ObjectOf<S>, path) : INVALID;
  });
}

/**
 * MOSN's `{ "type": "...", "config": {...} }` plugin objects (network filters, stream
 * filters, metrics sinks). Known types get their config validated; the others are
 * reported (as not implemented, or unknown) and come out as `{ type: undefined, name }`
 * so callers can skip them.
 */
export function tagged<V extends Shape>(
  variants: V,
  opts: { what: string; notImplemented?: readonly string[]; otherKeys?: readonly string[] },
): Schema<TaggedOf<V>> {
  const names = Object.keys(variants);
  const expected = `a ${opts.what} object {"type": ..., "config": {...}}`;
  const envelope = object(
    { type: string({ nonEmpty: true }), config: any().optional() },
    { notImplemented: opts.otherKeys ?? [], expected },
  );
  return new Schema(expected, (v, path, ctx) => {
    const env = envelope.parse(v, path, ctx);
    if (env === INVALID) return INVALID;
    const typePath = joinPath(path, 'type');
    const name = names.find((n) => n === env.type) ?? names.find((n) => n.toLowerCase() === env.type.toLowerCase());
    if (name === undefined) {
      const known = opts.notImplemented?.some((n) => n.toLowerCase() === env.type.toLowerCase());
      ctx.warn(typePath, `${opts.what} ${JSON.stringify(env.type)} ${known ? 'is not implemented by mosnd yet' : 'is unknown'}, ignored`);
      return withPath({ type: undefined, name: env.type }, path) as TaggedOf<V>;
    }
    const config = variants[name].parse(env.config ?? {}, joinPath(path, 'config'), ctx);
    if (config === INVALID) return INVALID;
    return withPath({ type: name, config }, path) as TaggedOf<V>;
  });
}

export type TaggedOf<V extends Shape> =
  | { [K in keyof V & string]: { type: K; config: Infer<V[K]> } }[keyof V & string]
  | { type: undefined; name: string };
