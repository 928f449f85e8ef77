/** `cellctl doctor`: is every real component installed, which version, where. */
import { Command } from 'commander';
import Table from 'cli-table3';
import { probe, type ToolStatus } from './binaries.js';

const TOOLS = ['consul', 'envoy', 'k6', 'node'] as const;

/** Probes every tool. */
export function diagnose(): Record<(typeof TOOLS)[number], ToolStatus> {
  return { consul: probe('consul'), envoy: probe('envoy'), k6: probe('k6'), node: probe('node') };
}

/** The `doctor` command module. */
export function command(): Command {
  return new Command('doctor')
    .description('check that consul, envoy, k6 and node are installed; exit 1 if any is missing')
    .option('--json', 'print a JSON object instead of a table')
    .action((opts: { json?: boolean }) => {
      const report = diagnose();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        const table = new Table({ head: ['tool', 'ok', 'version', 'path / problem'] });
        for (const t of TOOLS) {
          const s = report[t];
          table.push([t, s.ok ? 'yes' : 'NO', s.version ?? '-', s.ok ? `${s.path} (${s.source})` : (s.error ?? '')]);
        }
        process.stdout.write(`${table.toString()}\n`);
        if (!TOOLS.every((t) => report[t].ok)) process.stdout.write("Missing tools: run 'npm run setup'.\n");
      }
      if (!TOOLS.every((t) => report[t].ok)) process.exitCode = 1;
    });
}
