/**
 * `cellctl cells scale <cell> --delivery <n>`: a split cell's delivery service brought to n
 * instances (2 to 8) under `cellctl up --log kafka`, while traffic flows (`POST
 * /admin/cells/:cell/scale`, audited; docs/kafka.md §Scaling the delivery service).
 */
import { Command, InvalidArgumentError } from 'commander';
import { MAX_DELIVERY, MIN_DELIVERY, type ScalePlan } from '../admin/delivery-scale.js';
import type { DeliveryScaled } from '../rollout/supervisor-client.js';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';

/** commander parser of `--delivery`: an integer from 2 to 8 (a consumer group of at least 2). */
export function parseDeliveryCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < MIN_DELIVERY || n > MAX_DELIVERY)
    throw new InvalidArgumentError(
      `'${v}' is not a delivery instance count: ${MIN_DELIVERY} to ${MAX_DELIVERY} (the delivery service runs at least ${MIN_DELIVERY} in its consumer group)`,
    );
  return n;
}

/** `cells scale`. */
export function scaleCommand(): Command {
  return withConnection(
    new Command('scale')
      .description("scale a split cell's delivery service (cellctl up --log kafka): start or stop delivery instances, traffic flowing")
      .argument('<cell>', 'cell id')
      .requiredOption('--delivery <n>', `delivery instances, ${MIN_DELIVERY} to ${MAX_DELIVERY}`, parseDeliveryCount)
      .option('--dry-run', 'print the instances it would start or stop; change nothing'),
  ).action(
    run('cells scale', async (cell: string, f: ConnFlags & { delivery: number; dryRun?: boolean }) => {
      const out = await connect(f).post<Partial<DeliveryScaled> & { dryRun?: boolean; plan?: ScalePlan }>(`/cells/${cell}/scale`, {
        delivery: f.delivery,
        ...(f.dryRun ? { dryRun: true } : {}),
      });
      if (f.json) return printJson(out);
      const list = (names: string[]) => (names.length ? names.join(', ') : 'none');
      if (out.plan) {
        const p = out.plan;
        return void process.stdout.write(
          `plan (dry run, nothing changed): ${p.cell} delivery ${p.from} → ${p.to}; start ${list(p.start)}; stop ${list(p.stop)}\n`,
        );
      }
      process.stdout.write(
        `${cell} delivery ${out.from} → ${out.to}: started ${list(out.started ?? [])}; stopped ${list(out.stopped ?? [])}\n`,
      );
    }),
  );
}
