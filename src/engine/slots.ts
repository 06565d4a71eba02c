/**
 * Job slots shared with other programs: the port through which a run takes part in a GNU make
 * jobserver (executors/process/jobserver-client.ts implements it; the engine never reads MAKEFLAGS).
 *
 * Accounting, as for any make child: the run owns one implicit slot, and holds one token for each
 * further step it runs at once that takes CPU slots (`cpus: 0` steps need none; a step counts as one
 * job whatever its `cpus`, as a make recipe does: a step that runs make passes the jobserver on and its
 * make takes its own tokens, see docs/jobserver.md). A step whose token has not arrived waits, not
 * started, while steps that need none go ahead.
 */
export interface SlotSource {
  /**
   * How many more tokens the run is waiting for now. The source reads until it holds that many for
   * the run, then stops reading; tokens it holds beyond it go back at once. `arrived` is called (never
   * synchronously) when a token can be taken, or when the source gave up and every take succeeds.
   */
  want(count: number, arrived: () => void): void;
  /** A token held for the run, or undefined when none is. Once the source has given up, always one. */
  take(): SlotToken | undefined;
  /** Gives back a token {@link take} returned, exactly once. */
  give(token: SlotToken): void;
}

/** The byte read from the jobserver (written back as it was), or -1 for a slot with no token behind it. */
export type SlotToken = number;

/** The token of a source that gave up: a slot that is not counted anywhere, and gives nothing back. */
export const NO_TOKEN: SlotToken = -1;
