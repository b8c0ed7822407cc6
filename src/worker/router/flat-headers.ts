/**
 * Helpers for the HTTP codec's flat header arrays: `[name0, value0, name1, value1, ...]`,
 * names in the case they were received. Header names are ASCII, so names are compared
 * case-insensitively by folding A-Z by hand: no lower-cased copy per header on the hot path.
 */

/** `name` (any case) equals `lower` (already lower-cased), ASCII case-insensitively. */
export function nameEquals(name: string, lower: string): boolean {
  const n = name.length;
  if (n !== lower.length) return false;
  for (let i = 0; i < n; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The value of header `lower` (a lower-cased name), or undefined when absent. Repeated
 * headers are joined with "," as Envoy does for matching (only then is a string built).
 */
export function headerValue(headers: readonly string[], lower: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (nameEquals(headers[i], lower)) {
      found = found === undefined ? headers[i + 1] : `${found},${headers[i + 1]}`;
    }
  }
  return found;
}
