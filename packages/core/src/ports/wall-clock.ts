/**
 * The wall-clock port. The HLC reads physical time only through this interface so tests and
 * simulations can make time jump backwards or forwards without touching the system clock.
 */
export interface WallClock {
  /** Milliseconds since the Unix epoch. May go backwards; the HLC copes with that. */
  now(): number;
}

/** The real system clock (`Date.now()`). */
export const systemWallClock: WallClock = Object.freeze({
  now: (): number => Date.now(),
});
