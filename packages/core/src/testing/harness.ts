/**
 * What a conformance suite needs from an adapter: a fresh, private location (files, a
 * schema, …) that can be opened, closed and opened again to prove durability.
 */
export interface StoreHarness<S> {
  /** Opens, or reopens after `close()`, the store at this harness's location. */
  open(): Promise<S>;
  /** Removes everything the harness created. Called once per test, after the store is closed. */
  destroy(): Promise<void>;
}
