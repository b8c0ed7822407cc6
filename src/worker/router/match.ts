/**
 * Compiled route matchers: path (prefix / exact path / regex) and request headers.
 * Everything is compiled once per route; matching a request allocates nothing except the
 * query-less path for a regex route and the joined value of a repeated header.
 */

import type { HeaderMatch, RouteMatch } from '../../shared/config/model';
import { MosndError } from '../../shared/errors';
import { headerValue } from './flat-headers';

/** What the route matchers see of a request. */
export interface RouteRequest {
  method: string;
  /** Request-target as received; may carry `?query`. */
  path: string;
  /** Host header as received; may carry `:port`. */
  host: string;
  /** Flat `[name, value, ...]` array, names in received case. */
  headers: string[];
}

export const enum PathKind {
  Prefix,
  Exact,
  Regex,
}

export interface PathMatcher {
  kind: PathKind;
  /** Prefix or exact path (empty for a regex). */
  value: string;
  /** The path regex (kind Regex only): searched in the path, not anchored (MOSN semantics). */
  regex?: RegExp;
}

export const enum HeaderSource {
  Header,
  Authority,
  Path,
  Method,
}

export interface HeaderMatcher {
  source: HeaderSource;
  /** Lower-cased header name. */
  name: string;
  value: string;
  /** `regex: true`: searched in the value like the path regex (not anchored, MOSN semantics). */
  regex?: RegExp;
}

/** Where a request path ends: before the query string (or a stray fragment). */
export function pathEnd(target: string): number {
  const n = target.length;
  for (let i = 0; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return n;
}

/**
 * Compiles a route or header regex with MOSN's semantics: Go's `regexp.MatchString`, which
 * finds the pattern anywhere in the string (anchor it with `^...$` to match the whole; MOSN
 * users' files rely on this, e.g. `"regex": "^/api"` matching `/api/users`). A leading `(?i)`
 * (Go / RE2 syntax) becomes the `i` flag.
 */
export function compileGoRegex(source: string, where: string): RegExp {
  let flags = '';
  let body = source;
  if (body.startsWith('(?i)')) {
    flags = 'i';
    body = body.slice(4);
  }
  try {
    return new RegExp(body, flags);
  } catch (e) {
    throw new MosndError('MOSND_ERR_CONFIG_INVALID', `invalid regular expression at ${where}`, [
      `${where}: ${JSON.stringify(source)}: ${(e as Error).message}`,
    ]);
  }
}

export function compilePathMatcher(m: RouteMatch, where: string): PathMatcher {
  if (m.path !== undefined) return { kind: PathKind.Exact, value: m.path };
  if (m.regex !== undefined) return { kind: PathKind.Regex, value: '', regex: compileGoRegex(m.regex, `${where}.regex`) };
  return { kind: PathKind.Prefix, value: m.prefix ?? '/' };
}

export function compileHeaderMatcher(h: HeaderMatch, where: string): HeaderMatcher {
  const name = h.name.toLowerCase();
  const source =
    name === ':authority'
      ? HeaderSource.Authority
      : name === ':path'
        ? HeaderSource.Path
        : name === ':method'
          ? HeaderSource.Method
          : HeaderSource.Header;
  return {
    source,
    name,
    value: h.value,
    regex: h.regex ? compileGoRegex(h.value, `${where}.value`) : undefined,
  };
}

/**
 * Whether the path part (`target` up to `end`) matches. `bare` is the query-less path when
 * the caller already has it, so one request builds it at most once across routes.
 */
export function pathMatches(m: PathMatcher, target: string, end: number, bare: string): boolean {
  switch (m.kind) {
    case PathKind.Prefix:
      return end >= m.value.length && target.startsWith(m.value);
    case PathKind.Exact:
      return end === m.value.length && target.startsWith(m.value);
    case PathKind.Regex:
      return (m.regex as RegExp).test(bare);
  }
}

/** All matchers match: each header is present and equals the value (or contains a match of the regex). */
export function headersMatch(matchers: readonly HeaderMatcher[], req: RouteRequest): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i];
    let actual: string | undefined;
    switch (m.source) {
      case HeaderSource.Authority:
        actual = req.host;
        break;
      case HeaderSource.Path:
        actual = req.path;
        break;
      case HeaderSource.Method:
        actual = req.method;
        break;
      default:
        actual = headerValue(req.headers, m.name);
    }
    if (actual === undefined) return false;
    if (m.regex ? !m.regex.test(actual) : actual !== m.value) return false;
  }
  return true;
}
