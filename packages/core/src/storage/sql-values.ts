/**
 * How a SQL driver binds and returns the values core's row codecs read and write. Each storage
 * adapter declares its driver's kinds once; the record row layout and the sync row codecs turn
 * them into per-column conversions chosen when a layout is built, never per value.
 */
export interface SqlValueKinds {
  /** `'integer'`: booleans are bound and read back as 1 / 0 (SQLite); `'boolean'`: as booleans (PostgreSQL). */
  readonly booleans: 'integer' | 'boolean';
  /** `'text'`: JSON columns are read back as text to parse (SQLite); `'parsed'`: the driver parses them (pg's json type). */
  readonly json: 'text' | 'parsed';
  /**
   * `'number'`: -0 is bound as a number; `'text'`: as the text `'-0'`, for a driver that sends
   * numbers with `toString()`, which drops the sign (pg).
   */
  readonly negativeZero: 'number' | 'text';
}

/** Double-quotes a SQL identifier (a name the model registry or the adapter has validated). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
