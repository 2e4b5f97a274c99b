import type { Logger } from '@libp2p/interface';

const noop = (): void => undefined;

/** A logger that drops everything (before the node, and its logger, exist). */
export const silentLogger: Logger = Object.assign(noop, {
  enabled: false,
  error: noop,
  trace: noop,
  newScope: (): Logger => silentLogger,
}) as Logger;

/**
 * A logger that forwards to whatever `current()` returns at call time, so parts built in the
 * transport's constructor log through the node's logger once `start()` has created the node.
 */
export function deferredLogger(current: () => Logger): Logger {
  const log = ((formatter: unknown, ...args: unknown[]) => current()(formatter, ...args)) as Logger;
  return Object.assign(log, {
    get enabled() {
      return current().enabled;
    },
    error: (formatter: unknown, ...args: unknown[]) => current().error(formatter, ...args),
    trace: (formatter: unknown, ...args: unknown[]) => current().trace(formatter, ...args),
    newScope: (name: string) => current().newScope(name),
  });
}
