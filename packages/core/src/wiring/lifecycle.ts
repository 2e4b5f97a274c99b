/**
 * A part of a node with state to read, timers to run or something to listen to. The node calls
 * these hooks on every part in the order its lifecycle table gives (see node-lifecycle.ts), so
 * no part starts or stops another by hand.
 */
export interface Startable {
  /** Reads what the part kept from an earlier run; called once, while the node is created. */
  load?(): Promise<void>;
  start?(): Promise<void> | void;
  /** Called once every part has started. */
  afterStart?(): void;
  stop?(): Promise<void> | void;
}
