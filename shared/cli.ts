/**
 * Helpers for `cellctl` command modules (commander). Every option of every command can also
 * come from a `CELLSIM_*` environment variable named after its long flag
 * (`--data` ↔ CELLSIM_DATA, `--xds-port` ↔ CELLSIM_XDS_PORT), per docs/contracts.md §CLI.
 */
import { Command, InvalidArgumentError, type Option } from 'commander';

/** The environment variable an option reads: CELLSIM_ + the long flag in upper snake case. */
export function envNameFor(option: Option): string | undefined {
  const long = option.long?.replace(/^--(no-)?/, '');
  if (!long) return undefined;
  return `CELLSIM_${long.replace(/-/g, '_').toUpperCase()}`;
}

/**
 * Binds every option of `cmd` (and its subcommands) to its CELLSIM_* variable, and shows it in --help.
 * Hidden options (test hooks, drill sabotage) are left unbound: no exported variable can switch them on.
 */
export function bindEnv(cmd: Command): Command {
  for (const opt of cmd.options) {
    if (opt.envVar || opt.negate || opt.hidden || opt.long === '--help' || opt.long === '--version') continue;
    const env = envNameFor(opt);
    if (env && opt.envVar === undefined) {
      opt.env(env);
      // commander only listens for an option's env value when the option is added with it
      // already set; an option bound afterwards needs the listener here (same path as the CLI).
      cmd.on(`optionEnv:${opt.name()}`, (val?: string) => {
        (cmd as unknown as NodeJS.EventEmitter).emit(`option:${opt.name()}`, val);
      });
    }
  }
  for (const sub of cmd.commands) bindEnv(sub);
  return cmd;
}

/** commander argument parser for a TCP port (0–65535). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`'${value}' is not a port (0-65535)`);
  return n;
}

/** commander argument parser for a positive integer. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive integer`);
  return n;
}

/** commander argument parser for a duration: `500ms`, `2s`, `1m`, or a plain number of ms. */
export function parseDurationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`'${value}' is not a duration (e.g. 500ms, 2s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000);
}

/** commander argument parser for an http(s) URL. */
export function parseUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return u.toString().replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError(`'${value}' is not an http(s) URL (e.g. http://127.0.0.1:8500)`);
  }
}

/** A `cellctl` subcommand module: builds its commander command. */
export interface CommandModule {
  command(): Command;
}
