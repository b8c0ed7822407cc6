/**
 * A module required on first use instead of at start. A long-running process keeps in memory
 * every module it ever loaded; what only some configurations or some commands need (the
 * Prometheus aggregator, process sampling) is loaded when first needed, so a
 * master or worker that never needs it does not carry its megabytes.
 */
export function lazy<T>(load: () => T): () => T {
  let value: T | undefined;
  let loaded = false;
  return () => {
    if (!loaded) {
      value = load();
      loaded = true;
    }
    return value as T;
  };
}
