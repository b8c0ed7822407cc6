/**
 * Go-style durations, as MOSN writes them in its JSON config (api.DurationConfig wraps
 * time.ParseDuration): "15s", "500ms", "1m30s", "1.5h", "100us", "2ns", "0".
 *
 * A duration is a signed sequence of decimal numbers, each with an optional fraction and
 * a unit suffix; units are ns, us (also µs / μs), ms, s, m, h. "0" alone needs no unit.
 * Values here are milliseconds (fractions allowed: "100us" is 0.1).
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** One "<number><unit>" group: digits with an optional fraction (".5" and "5." are valid in Go). */
const GROUP = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration string into milliseconds; undefined if it is not one. */
export function parseDuration(s: string): number | undefined {
  if (typeof s !== 'string') return undefined;
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest.length > 0) {
    const m = GROUP.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  // Round away binary noise ("0.1" * 1e-3 ...) at the nanosecond, Go's resolution.
  return sign * (Math.round(total * 1e6) / 1e6);
}

/** Formats milliseconds the way Go prints a time.Duration: "1m30s", "1.5s", "250ms", "100us", "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) {
    if (rest >= 1) return `${sign}${trim(rest)}ms`;
    if (rest >= 1e-3) return `${sign}${trim(rest * 1e3)}us`;
    return `${sign}${trim(rest * 1e6)}ns`;
  }
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  if (h > 0) {
    out += `${h}h`;
    rest -= h * 3_600_000;
  }
  const m = Math.floor(rest / 60_000);
  if (h > 0 || m > 0) {
    out += `${m}m`;
    rest -= m * 60_000;
  }
  return `${sign}${out}${trim(rest / 1000)}s`;
}

/** Up to nanosecond precision, without trailing zeros. */
function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
