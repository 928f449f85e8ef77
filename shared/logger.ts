/** Structured JSON logging (pino) for every cellsim process. */
import { destination, pino, type Logger } from 'pino';

export type { Logger };

/**
 * Creates the process logger: one JSON object per line on stderr, with `component` set, so
 * stdout holds only what a command prints for its caller (a `--json` document, a table).
 * Writes are synchronous, so no line is lost when the process exits.
 * Level from CELLSIM_LOG_LEVEL (default `info`; `silent` in tests that do not need logs).
 */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level: process.env.CELLSIM_LOG_LEVEL ?? 'info',
      base: { component, pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination({ dest: 2, sync: true }),
  );
}
