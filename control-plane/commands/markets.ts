/** `cellctl markets`: the market map (market → cell, state, epoch). */
import Table from 'cli-table3';
import { Command } from 'commander';
import type { MarketView } from '../admin/views.js';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';

/** The command module. */
export function command(): Command {
  return withConnection(new Command('markets').description('list every market with its cell, state and epoch'))
    .option('--cell <cell>', 'only the markets of this cell')
    .action(
      run('markets', async (f: ConnFlags & { cell?: string }) => {
        const { markets } = await connect(f).get<{ markets: MarketView[] }>('/markets');
        const list = f.cell ? markets.filter((m) => m.cell === f.cell) : markets;
        if (f.json) return printJson(list);
        const t = new Table({ head: ['market', 'cell', 'state', 'epoch'] });
        for (const m of list) t.push([m.market, m.cell, m.state, m.epoch]);
        process.stdout.write(`${t.toString()}\n${list.length} markets\n`);
      }),
    );
}
