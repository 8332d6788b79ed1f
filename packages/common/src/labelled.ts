// Metrics on the hot path: a metric's child for one set of label values,
// made on first use and kept. prom-client otherwise hashes the labels object
// on every inc/observe (a few µs per call across the metrics of a tools/call).
// Label values are bounded (routes, configured servers, outcomes), so the
// cache is too.

/** `child(...values)` once per distinct label values; the same child after. */
export function labelled<T>(child: (...values: string[]) => T): (...values: string[]) => T {
  const made = new Map<string, T>();
  return (...values) => {
    const key = values.join('\0');
    let c = made.get(key);
    if (c === undefined) made.set(key, (c = child(...values)));
    return c;
  };
}
