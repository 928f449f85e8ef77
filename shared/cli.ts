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

/** The only values a boolean option accepts from its CELLSIM_* variable (exact, lower case, no blanks). */
export const ENV_BOOLEANS: Readonly<Record<string, boolean>> = Object.freeze({ true: true, false: false, 1: true, 0: false });

/** Exit code of a CELLSIM_* boolean that is none of {@link ENV_BOOLEANS}: commander's usage-error code (docs/contracts.md §CLI). */
export const ENV_USAGE_EXIT_CODE = 1;

/**
 * Reads a boolean option's variable: `true`/`1` → true, `false`/`0` → false, exactly (case and blanks
 * count: `TRUE`, ` 1`, `yes` and the empty string are refused). Throws InvalidArgumentError naming the
 * variable, its value, the option and the accepted values.
 */
export function parseEnvBoolean(name: string, value: string | undefined, flag?: string): boolean {
  if (value !== undefined && Object.hasOwn(ENV_BOOLEANS, value)) return ENV_BOOLEANS[value] === true;
  const of = flag ? `the variable of ${flag} ` : '';
  throw new InvalidArgumentError(`${name}=${JSON.stringify(value ?? '')} is not a boolean: ${of}takes true, false, 1 or 0`);
}

const ENVLESS = new WeakSet<Option>();

/**
 * Marks an option that no CELLSIM_* variable may set (test hooks, drill sabotage): `bindEnv` leaves
 * it unbound even when it is visible in --help. Returns the option, for `.addOption(neverFromEnv(...))`.
 */
export function neverFromEnv<T extends Option>(option: T): T {
  ENVLESS.add(option);
  return option;
}

/** A flag: an option without a value, `--x` or `--no-x` (commander's isBoolean() leaves out `--no-x`). */
function isFlag(opt: Option): boolean {
  return !opt.required && !opt.optional;
}

/** Whether `bindEnv` binds `opt` of `cmd` to a variable (see bindEnv for the options it leaves out). */
function bindable(cmd: Command, opt: Option): boolean {
  if (ENVLESS.has(opt) || opt.hidden || opt.long === undefined || opt.long === '--help' || opt.long === '--version') return false;
  // `--no-x` beside `--x`: the variable CELLSIM_X belongs to `--x` (e.g. cell's --consul <url> / --no-consul).
  if (opt.negate) return !cmd.options.some((o) => o !== opt && o.long === opt.long?.replace(/^--no-/, '--'));
  return true;
}

/**
 * Binds every option of `cmd` (and its subcommands) to its CELLSIM_* variable, and shows it in --help.
 * A boolean option's variable sets its value strictly ({@link parseEnvBoolean}): `CELLSIM_DRY_RUN=0`
 * leaves dry-run off, `CELLSIM_WAIT=false` is `--no-wait`; any other value fails the command with a
 * usage error before its action runs. The command line wins over the variable, which is then not read.
 * Never bound: hidden options and those marked {@link neverFromEnv} (test hooks, drill sabotage),
 * `--help`, every `--version`, and `--no-x` when `--x` exists.
 */
export function bindEnv(cmd: Command): Command {
  let flags = false;
  for (const opt of cmd.options) {
    const event = `optionEnv:${opt.name()}`;
    if (!bindable(cmd, opt)) {
      if (opt.envVar !== undefined) {
        // even one given `.env()` by its command stays unbound
        (cmd as unknown as NodeJS.EventEmitter).removeAllListeners(event);
        delete opt.envVar;
      }
      continue;
    }
    // a value option given `.env()` by its command keeps commander's own handling
    if (opt.envVar !== undefined && !isFlag(opt)) continue;
    const env = opt.envVar ?? envNameFor(opt);
    if (!env) continue;
    opt.env(env);
    // commander only listens for an option's env value when the option is added with it
    // already set; an option bound afterwards needs the listener here.
    if (isFlag(opt)) {
      flags = true;
      // commander would take any set variable for true: this listener reads and checks the value instead.
      (cmd as unknown as NodeJS.EventEmitter).removeAllListeners(event);
      cmd.on(event, () => {
        let value: boolean;
        try {
          value = parseEnvBoolean(env, process.env[env], opt.long);
        } catch (err) {
          return cmd.error(`error: ${(err as Error).message}`, { exitCode: ENV_USAGE_EXIT_CODE, code: 'cellsim.envBoolean' });
        }
        // --x: CELLSIM_X is x's value; --no-x (no --x beside it): CELLSIM_X=false is --no-x.
        cmd.setOptionValueWithSource(opt.attributeName(), value, 'env');
      });
    } else {
      // the same path as the command line (its argument parser runs on the value)
      cmd.on(event, (val?: string) => {
        (cmd as unknown as NodeJS.EventEmitter).emit(`option:${opt.name()}`, val);
      });
    }
  }
  if (flags) cmd.addHelpText('after', "\nA flag's CELLSIM_* variable takes true, false, 1 or 0; any other value is refused.");
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
