/**
 * `cellctl hosts`: the network namespaces and links of `cellctl up --hosts` runs on this
 * machine, and `cellctl hosts clean`, which removes those of runs whose supervisor is gone
 * (docs/multi-host.md). Also the checks `cellctl up --hosts` makes before it plans a run.
 */
import { Command, InvalidArgumentError } from 'commander';
import { freshRun, ownerAlive, removeLeftovers, removeRun, runsPresent } from './netns.js';
import { hostPlan, type HostPlan } from './plan.js';

/** Refuses `--hosts` where namespaces cannot be made (not root, no iproute2), else plans a fresh run. */
export async function planHosts(cells: number): Promise<HostPlan> {
  if (process.getuid?.() !== 0) throw new Error('--hosts makes network namespaces: run it as root (CI does)');
  const { run, subnet } = await freshRun().catch((err: Error) => {
    throw new Error(`--hosts needs iproute2's ip: ${err.message}`);
  });
  return hostPlan(run, subnet, cells);
}

function parseRun(value: string): string {
  if (!/^[0-9a-f]{4}$/.test(value)) throw new InvalidArgumentError(`'${value}' is not a run id (4 hex digits, e.g. 3fa2)`);
  return value;
}

/** Builds the command. */
export function command(): Command {
  const cmd = new Command('hosts')
    .enablePositionalOptions()
    .description('list the network namespaces and links of cellctl up --hosts runs (cs-<run>-*), with whether their supervisor lives')
    .option('--json', 'print one JSON document')
    .action(async (f: { json?: boolean }) => {
      const runs = [...(await runsPresent())].map(([run, r]) => ({ run, alive: ownerAlive(run), ...r }));
      if (f.json) return void process.stdout.write(`${JSON.stringify({ runs })}\n`);
      if (runs.length === 0) return void process.stdout.write('no cellctl up --hosts run on this machine\n');
      for (const r of runs)
        process.stdout.write(
          `cs-${r.run}-*  ${r.alive ? 'running' : 'left over'}  ${r.namespaces.length} namespaces, ${r.links.length} links\n`,
        );
    });
  cmd
    .command('clean')
    .description('remove the namespaces and links of runs whose supervisor is gone (or of one run with --run, even a live one)')
    .option('--run <id>', 'remove this run (4 hex digits) whatever its state', parseRun)
    .option('--json', 'print one JSON document')
    .action(async (f: { run?: string; json?: boolean }) => {
      const removed = f.run ? (await removeRun(f.run), [f.run]) : await removeLeftovers();
      if (f.json) return void process.stdout.write(`${JSON.stringify({ removed })}\n`);
      process.stdout.write(removed.length ? `removed run(s) ${removed.join(', ')}\n` : 'nothing left over\n');
    });
  return cmd;
}
