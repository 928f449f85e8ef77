/**
 * The table of every cellctl subcommand and the part that owns it, loaded on demand so
 * `cellctl router` never loads control-plane code.
 */
import type { CommandModule } from '../shared/cli.js';

/** One subcommand: its summary and the module that builds it. */
export interface Entry {
  summary: string;
  load: () => Promise<CommandModule>;
}

/** Every subcommand, the part that owns it, and a one-line summary for `cellctl --help`. */
export const COMMANDS: Record<string, Entry> = {
  doctor: {
    summary: 'check that consul, envoy, vegeta and node are installed, their versions and licences',
    load: () => import('../infra/doctor.js'),
  },
  cell: {
    summary: 'run one cell (orders, outbox, log, delivery, saga, faults, market export/import)',
    load: () => import('../cells/cli.js'),
  },
  router: { summary: 'run the Node router (market → cell through Consul)', load: () => import('../router/cli.js') },
  'control-plane': {
    summary: 'run the control plane: xDS server for Envoy fed from Consul, admin API',
    load: () => import('../control-plane/cli.js'),
  },
  envoy: {
    summary: 'run the real Envoy with a bootstrap pointing at the control plane (ADS)',
    load: () => import('../control-plane/envoy-cli.js'),
  },
  status: { summary: 'cells, versions, health, routers, xDS, running work', load: () => import('../control-plane/commands/status.js') },
  cells: { summary: 'list cells with state, version, color and health', load: () => import('../control-plane/commands/cells.js') },
  markets: { summary: 'list the market map (cell, state, epoch)', load: () => import('../control-plane/commands/markets.js') },
  assign: { summary: 'assign a market to a cell (new, or migrated online)', load: () => import('../control-plane/commands/assign.js') },
  migrate: { summary: 'move a market to another cell while traffic flows', load: () => import('../control-plane/commands/migrate.js') },
  drain: { summary: 'stop new markets going to a cell', load: () => import('../control-plane/commands/drain.js') },
  evacuate: { summary: 'move every market off a cell, a few at a time', load: () => import('../control-plane/commands/evacuate.js') },
  rebalance: {
    summary: 'move markets from busy cells to idle ones, by load measured against capacity',
    load: () => import('../control-plane/commands/rebalance.js'),
  },
  rollout: { summary: 'roll a version out: canary cell-0, bake, SLO, waves', load: () => import('../control-plane/commands/rollout.js') },
  rollback: { summary: 'put a cell back on its previous version', load: () => import('../control-plane/commands/rollback.js') },
  experiment: {
    summary: "A/B experiment: split a market's requests between its cell's colors by a hash of a header (start, status, stop)",
    load: () => import('../control-plane/commands/experiment.js'),
  },
  up: { summary: 'run the whole topology locally, supervised', load: () => import('../topology/cli.js') },
  seed: {
    summary: "give a fresh Consul cellsim's ACL tokens, cells and market map, as cellctl up does (the Kubernetes seed Job)",
    load: () => import('../topology/seed-cli.js'),
  },
  deploy: {
    summary: 'deployment files from the topology model: deploy k8s writes the Kubernetes manifests of --cells cells',
    load: () => import('../topology/k8s/cli.js'),
  },
  hosts: {
    summary: 'list the network namespaces of cellctl up --hosts runs; hosts clean removes those left over',
    load: () => import('../topology/hosts/cli.js'),
  },
  certs: {
    summary: 'certs rotate: new leaf certificates under cellctl up --tls data; routers, cells and Envoy take them without a restart',
    load: () => import('../topology/certs-cli.js'),
  },
  drill: {
    summary: 'run a blast-radius drill under vegeta load (cell-crash, cell-hang, router-replica-kill, ...), write its report',
    load: () => import('../loadtest/cli.js'),
  },
};
