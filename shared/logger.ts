/** Structured JSON logging (pino) for every cellsim process. */
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Creates the process logger: one JSON object per line on stdout, with `component` set.
 * Level from CELLSIM_LOG_LEVEL (default `info`; `silent` in tests that do not need logs).
 */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level: process.env.CELLSIM_LOG_LEVEL ?? 'info',
    base: { component, pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
