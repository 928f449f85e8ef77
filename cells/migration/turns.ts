/**
 * Big-market work (export, import, checksum warm-up, purge) gives the cell's event loop a turn
 * every {@link ROWS_PER_TURN} rows, so the cell keeps answering its own markets meanwhile.
 */
export { setImmediate as nextTurn } from 'node:timers/promises';

/** Rows handled (and, for writes, committed) per turn of the event loop. */
export const ROWS_PER_TURN = 1000;
