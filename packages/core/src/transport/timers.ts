/**
 * Largest delay `setTimeout` honours (2^31 − 1 ms, about 24.8 days): a longer one fires after
 * 1 ms. Transports treat a timeout above it as "no timer" and refuse options above it.
 */
export const MAX_TIMER_MS = 2_147_483_647;
