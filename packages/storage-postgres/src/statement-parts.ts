/** Collects positional parameters while a statement's text is built: `$1`, `$2`, … (core's `Placeholder`). */
export class Params {
  readonly values: unknown[] = [];
  readonly add = (value: unknown): string => `$${this.values.push(value)}`;
}

/** Splits `items` into slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Rows of values (all as long as the first) as one array per column: the parameters of an `unnest(…)` statement. */
export function columnsOf(rows: readonly (readonly unknown[])[]): unknown[][] {
  return Array.from({ length: rows[0]?.length ?? 0 }, (_, c) => rows.map((row) => row[c]));
}

/**
 * A fixed total order on keys: batches write (and so lock) rows in this order, so two
 * concurrent batches over overlapping keys never wait on each other in a cycle.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
