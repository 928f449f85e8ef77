/** Runs one cellctl subcommand: shared by `bin/cellctl.ts` and the bundle entries (`bin/entries/`, built by bin/bundle.mjs). */
import { Command, CommanderError } from 'commander';
import { bindEnv, type CommandModule } from '../shared/cli.js';

function exitOverrideAll(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOverrideAll(sub);
}

/** Parses `args` for subcommand `name` (every option bound to its CELLSIM_* variable) and runs it. */
export async function runCommand(name: string, mod: CommandModule, args: string[]): Promise<void> {
  const cmd = bindEnv(mod.command().name(`cellctl ${name}`));
  exitOverrideAll(cmd);
  try {
    await cmd.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

/** Prints a failed command's error as `cellctl: <message>` and sets exit code 1. */
export function reportFailure(err: unknown): void {
  process.stderr.write(`cellctl: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
