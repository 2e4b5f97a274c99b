import { expect } from '@jest/globals';

/** What `sigOf` gives for a value without a `sig` property. */
export const NO_SIG = '(no sig property)';

/**
 * A value's `sig` as a store returned it, telling a missing property (`NO_SIG`) from one that
 * is present but undefined or null: a row stored without a signature must come back without the
 * property.
 */
export function sigOf(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return Object.hasOwn(value, 'sig') ? (value as { sig?: unknown }).sig : NO_SIG;
}

/**
 * `actual` equals `expected` (records, tombstones, changes, or arrays of them), and each has a
 * `sig` exactly where the expected one has: the same text, or no property at all. (toEqual
 * alone takes a `sig: undefined` for a missing one; toStrictEqual also compares classes, and a
 * store may return its clocks as instances of one.)
 */
export function expectSameWithSigs(actual: unknown, expected: unknown): void {
  expect(actual).toEqual(expected);
  const sigs = (v: unknown): unknown => (Array.isArray(v) ? v.map(sigOf) : sigOf(v));
  expect(sigs(actual)).toEqual(sigs(expected));
}
