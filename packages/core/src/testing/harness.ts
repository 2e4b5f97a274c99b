import { afterEach, beforeEach, describe } from '@jest/globals';

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

/** A port as an adapter provides it: the port's methods and `close()`. */
export type WithClose<P> = P & { close(): Promise<void> };

/** The store under test in the current test, and a way to close and reopen it. */
export interface OpenStore<S> {
  readonly store: S;
  reopen(): Promise<void>;
}

/**
 * Registers beforeEach/afterEach hooks that give every test a fresh harness with its store
 * open, and close and destroy it afterwards (also when the test failed mid-reopen).
 */
export function useStoreHarness<S extends { close(): Promise<void> }>(newHarness: () => Promise<StoreHarness<S>>): OpenStore<S> {
  let harness: StoreHarness<S>;
  let store: S | null = null;
  beforeEach(async () => {
    harness = await newHarness();
    store = await harness.open();
  });
  afterEach(async () => {
    await store?.close();
    store = null;
    await harness.destroy();
  });
  return {
    get store(): S {
      if (!store) throw new Error('store is not open');
      return store;
    },
    async reopen(): Promise<void> {
      await store?.close();
      store = null;
      store = await harness.open();
    },
  };
}

/**
 * Registers the suite `<port> conformance: <adapterName>`: `body` declares its cases, each of
 * which runs on a fresh harness with its store open (see `useStoreHarness`).
 */
export function describeStoreConformance<S extends { close(): Promise<void> }>(
  port: string,
  adapterName: string,
  newHarness: () => Promise<StoreHarness<S>>,
  body: (current: OpenStore<S>) => void,
): void {
  describe(`${port} conformance: ${adapterName}`, () => body(useStoreHarness(newHarness)));
}
