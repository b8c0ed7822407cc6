/** Character classes of RFC 9110/9112, as byte tables (fast on the hot path). */

/** tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** field-vchar / SP / HTAB / obs-text: anything but CTLs (HTAB allowed) and DEL. */
export const FIELD_VALUE = new Uint8Array(256);
for (let c = 0x20; c <= 0xff; c++) FIELD_VALUE[c] = 1;
FIELD_VALUE[0x7f] = 0;
FIELD_VALUE[0x09] = 1;

/** request-target bytes: visible ASCII (no SP, no CTL, no DEL). obs-text is refused. */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Same as isToken on a slice of a latin1 string, no allocation. */
export function isTokenRange(s: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

export function isFieldValueRange(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return false;
  }
  return true;
}

/**
 * Whether `s` equals `lower` (an ASCII lower-case name) ignoring the case of letters, without
 * allocating the lower-cased copy that `s.toLowerCase() === lower` costs on every field of every
 * head. Only A-Z match a-z: no other byte is folded (`toLowerCase` also maps U+212A KELVIN SIGN
 * to `k`, which no field name may contain).
 */
export function eqLower(s: string, lower: string): boolean {
  const n = lower.length;
  if (s.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const t = lower.charCodeAt(i);
    if (c !== t && (t < 0x61 || t > 0x7a || c !== t - 0x20)) return false;
  }
  return true;
}

/**
 * Trims optional whitespace as HTTP defines it (SP and HTAB only, RFC 9110 §5.6.3). Never
 * `String.prototype.trim()`: it also strips U+00A0, U+000B, U+000C..., so `\xa0chunked` would
 * read as `chunked` here while the next hop reads an unknown coding.
 */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
