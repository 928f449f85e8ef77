/**
 * The `cellctl up` supervisor: starts the children of {@link register} group by group (Consul,
 * then Consul is seeded, cells, control plane, routers, Envoys), keeps them running, serves the
 * control channel, writes `<data>/topology.json`, and stops everything in reverse order.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { CellIdSchema, type CellRecord } from '../shared/kv.js';
import { join } from 'node:path';
import { HttpError, UnknownCellError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { readTokenFile } from '../shared/tokens.js';
import { serviceId } from '../cells/register.js';
import { freePorts } from '../infra/ports.js';
import { Child, type ChildSpec } from './child.js';
import { cellIds, globalCell, isSplit, type TopologyConfig } from './config.js';
import { startControlServer, type ControlServer } from './control.js';
import { DEFAULT_MARKETS } from './markets.js';
import { pinDeliveryVersions, seedConsul, type Seeded } from './seed.js';
import { applyConsulAcl, supervisorConsul } from './acl.js';
import {
  cellChildName,
  cellSpec,
  consulDevDir,
  consulSpecs,
  consulUrl,
  envoyAdminUrl,
  register,
  supervisorTls,
  supervisorUrl,
} from './wiring.js';
import { reloadConsulOnRotation, type ConsulReloader } from './consul-reload.js';
import { hostsView, networkDown, networkUp } from './hosts/lifecycle.js';
import { cellCertificates, cellHostDown, cellHostUp, type CellHostOwner } from './hosts/cell-host.js';
import { hostIp } from './hosts/plan.js';
import { setLink, setPaths } from './hosts/netns.js';
import { rejoinServers } from './hosts/rejoin.js';
import type { Host } from './hosts/plan.js';
import { waitKvWritable } from './kv-ready.js';
import { brokerChildName, brokerView, forgetBroker, startBrokers } from './kafka.js';
import { deliverySpecs, deliveryView, forgetDelivery, planDeliveryPorts } from './delivery.js';
import { scaleDelivery, type DeliveryHost, type Scaled } from './delivery-scale.js';
import { startDeliveryInstance, stopDeliveryInstance } from './delivery-instance.js';

/** The running topology. */
export class Supervisor {
  readonly children = new Map<string, Child>();
  private control: ControlServer | undefined;
  /** Under `--tls`, the watch that reloads Consul when its certificate changes (topology/consul-reload.ts). */
  private consulReload: ConsulReloader | undefined;
  private seeded: Seeded | undefined;
  private stopping = false;
  /** topology.json is written once everything started, then kept current. */
  private started = false;
  private writeTimer: NodeJS.Timeout | undefined;
  /** The hosts each host's paths are cut from (selective partitions, restored with the host). */
  private readonly cutPaths = new Map<string, Host[]>();
  /** The hosts whose link is cut (their agent joins the servers again at the restore). */
  private readonly linkCut = new Set<string>();
  /** Delivery scalings and rollout steps run one at a time (topology/delivery-scale.ts, topology/delivery-instance.ts). */
  private scaling: Promise<unknown> = Promise.resolve();

  constructor(
    readonly cfg: TopologyConfig,
    private readonly log: Logger,
    private readonly progress: (line: string) => void = () => undefined,
  ) {}

  private get logDir(): string {
    return join(this.cfg.dataDir, 'logs');
  }

  private add(spec: ChildSpec): Child {
    const child = new Child(spec, this.logDir, this.log, {
      changed: () => this.scheduleWrite(),
      portTaken: (s) => this.movePort(s),
      report: this.progress,
    });
    this.children.set(spec.name, child);
    return child;
  }

  /** Starts every child, group by group; on failure stops what started and throws. */
  async start(): Promise<void> {
    for (const d of ['logs', 'cells', 'routers', 'envoy']) mkdirSync(join(this.cfg.dataDir, d), { recursive: true });
    rmSync(join(this.cfg.dataDir, 'topology.json'), { force: true });
    // A dev agent starts empty, as without a state directory (topology/wiring.ts consulDevDir).
    const devDir = consulDevDir(this.cfg);
    if (devDir) rmSync(devDir, { recursive: true, force: true });
    try {
      if (this.cfg.hosts) await networkUp(this.cfg.hosts, this.progress);
      const token = readTokenFile(this.cfg.tokenFiles.supervisor);
      this.control = await startControlServer(
        this,
        this.cfg.ports.supervisor,
        token,
        this.log,
        this.cfg.hosts?.gateway,
        supervisorTls(this.cfg),
      );
      const consuls = consulSpecs(this.cfg).map((s) => this.add(s));
      const mode = this.cfg.hosts ? '3 servers, a client agent per host' : this.cfg.persist ? 'persistent' : 'dev mode';
      this.progress(`starting consul (${mode}) on ${consulUrl(this.cfg)}`);
      await Promise.all(consuls.map((c) => c.start(90_000)));
      await applyConsulAcl(this.cfg, consulUrl(this.cfg));
      const agents = () => [...this.children.values()].filter((c) => c.spec.kind === 'consul');
      this.consulReload = reloadConsulOnRotation(this.cfg, agents, this.log);
      await waitKvWritable(supervisorConsul(this.cfg, consulUrl(this.cfg)));
      this.seeded = await seedConsul(this.cfg, consulUrl(this.cfg), DEFAULT_MARKETS);
      this.progress(`seeded consul: ${this.seeded.cells.size} cells, ${this.seeded.markets.size} markets`);
      const live = new Map([...this.seeded.cells].map(([id, c]) => [id, { color: c.activeColor ?? 'blue', version: c.version }] as const));
      // Cells added while an earlier run was up (`cellctl cells add`) and kept by a persistent Consul.
      const added = [...this.seeded.cells].filter(([id]) => !cellIds(this.cfg.cells).includes(id));
      // Under --hosts an added cell gets its host back first (topology/hosts/cell-host.ts): its broker runs there.
      for (const [id] of added) await cellHostUp(this.hostOwner, id);
      await startBrokers(this.cfg, [...cellIds(this.cfg.cells), ...added.map(([id]) => id)], (s) => this.add(s), this.progress);
      const [, cellGroup, ...groups] = register(this.cfg, live);
      for (const [id, rec] of added) cellGroup!.push(await this.addedSpec(id, rec));
      // --log kafka: each cell's delivery instances start with it (topology/delivery.ts), on the
      // version its record names for them (a delivery rollout's), else the cell's.
      const allCells = [...cellIds(this.cfg.cells), ...added.map(([id]) => id)];
      await pinDeliveryVersions(
        this.cfg,
        consulUrl(this.cfg),
        this.seeded,
        allCells.filter((id) => isSplit(this.cfg, id)),
      );
      await planDeliveryPorts(this.cfg, allCells, this.progress);
      for (const id of allCells) {
        const rec = this.seeded.cells.get(id);
        cellGroup!.push(...deliverySpecs(this.cfg, id, rec?.deliveryVersion ?? rec?.version ?? this.cfg.initialVersion));
      }
      groups.unshift(cellGroup!);
      for (const group of groups) {
        this.progress(`starting ${group.map((s) => s.name).join(', ')}`);
        await Promise.all(group.map((spec) => this.add(spec).start(90_000)));
      }
      this.started = true;
      this.writeTopology();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Under `--any-ports`, a cell instance whose port another process took gets a fresh one: the
   * cell registers its new address in Consul itself, so routers and the xDS server follow, and
   * topology.json is rewritten. The registration of the old port is removed first: whatever
   * answers there now must not pass its health check as the cell. Other children keep their
   * ports (their peers are configured with them).
   */
  private async movePort(spec: ChildSpec): Promise<ChildSpec | undefined> {
    const plan = this.cfg.ports.cells;
    if (spec.kind !== 'cell' || !spec.cell || !spec.color || spec.port === undefined) return undefined;
    const entry = this.cfg.ports.added?.[spec.cell] ?? plan?.[Number(spec.cell.replace(/^cell-/, ''))];
    if (!entry) return undefined;
    const old = serviceId({ cell: spec.cell, color: spec.color, port: spec.port });
    await supervisorConsul(this.cfg, consulUrl(this.cfg))
      .agent.deregister(old, { timeoutMs: 2000 })
      .catch(() => undefined);
    const [port] = await freePorts(1);
    entry[spec.color] = port!;
    return cellSpec(this.cfg, spec.cell, spec.color, spec.version ?? this.cfg.initialVersion, spec.defect);
  }

  /** Starts (or replaces) a cell instance; used by rollouts through the control channel. */
  async startCell(cell: string, color: 'blue' | 'green', version: string, defect?: unknown): Promise<Child> {
    if (!this.seeded?.cells.has(cell)) throw new UnknownCellError(cell);
    const name = cellChildName(cell, color);
    await this.children.get(name)?.stop();
    this.children.delete(name);
    const child = this.add(cellSpec(this.cfg, cell, color, version, defect));
    try {
      await child.start(60_000);
    } finally {
      this.scheduleWrite();
    }
    return child;
  }

  /** The spec of an added cell's active color, on two free ports of its own. */
  private async addedSpec(cell: string, rec: Pick<CellRecord, 'version' | 'activeColor'>) {
    const [blue, green] = await freePorts(2);
    this.cfg.ports.added = { ...this.cfg.ports.added, [cell]: { blue: blue!, green: green! } };
    return cellSpec(this.cfg, cell, rec.activeColor ?? 'blue', rec.version);
  }

  /**
   * Starts a cell added while the topology runs (its record is already in Consul, written by the
   * control plane): its blue instance on free ports, under its own data directory; resolves once
   * it is ready. A cell the topology already runs is refused.
   */
  async addCell(cell: string, version: string): Promise<Child> {
    if (!CellIdSchema.safeParse(cell).success) throw new UnknownCellError(cell, `'${cell.slice(0, 64)}' is not a cell id`);
    if (this.seeded?.cells.has(cell) && this.resolve(cell).length > 0) return this.resolve(cell)[0]!;
    const rec = { id: cell, state: 'active', canary: false, global: false, capacity: 0, version, activeColor: 'blue' } as const;
    this.seeded?.cells.set(cell, rec);
    let child: Child;
    try {
      // Under --hosts its own host first, with a Consul client agent (topology/hosts/cell-host.ts);
      // under --tls its certificate.
      if (this.cfg.hosts) await cellHostUp(this.hostOwner, cell);
      else await cellCertificates(this.cfg, cell);
      await startBrokers(this.cfg, [cell], (s) => this.add(s), this.progress);
      await planDeliveryPorts(this.cfg, [cell]);
      child = this.add(await this.addedSpec(cell, rec));
      await Promise.all([child.start(60_000), ...deliverySpecs(this.cfg, cell, version).map((s) => this.add(s).start(60_000))]);
      if (this.seeded && isSplit(this.cfg, cell)) await pinDeliveryVersions(this.cfg, consulUrl(this.cfg), this.seeded, [cell]);
    } catch (err) {
      await this.removeCell(cell).catch((e: Error) => this.log.warn({ cell, err: e.message }, 'removing a cell that did not start failed'));
      // The operator gets the cause (its host's step, or the process's), in the contract's shape.
      if (err instanceof HttpError) throw err;
      throw new HttpError('cell_start_failed', `${cell} did not start: ${(err as Error).message}`);
    } finally {
      this.scheduleWrite();
    }
    return child;
  }

  /** Stops and forgets every instance of `cell`, its ports, its data directory and under `--hosts` its host (`cellctl cells retire`). */
  async removeCell(cell: string): Promise<void> {
    if (!this.seeded?.cells.has(cell)) throw new UnknownCellError(cell);
    try {
      await this.removeKnownCell(cell);
    } catch (err) {
      // The operator gets the cause (the step that failed), in the contract's shape.
      if (err instanceof HttpError) throw err;
      throw new HttpError('cell_stop_failed', `${cell} did not stop: ${(err as Error).message}`);
    }
  }

  private async removeKnownCell(cell: string): Promise<void> {
    for (const color of ['blue', 'green'] as const) await this.stopCell(cell, color);
    for (const k of [...this.children.values()].filter((c) => c.spec.kind === 'delivery' && c.spec.cell === cell))
      await this.drop(k.spec.name);
    await this.drop(brokerChildName(cell));
    forgetBroker(this.cfg, cell);
    forgetDelivery(this.cfg, cell);
    this.seeded?.cells.delete(cell);
    if (this.cfg.ports.added) delete this.cfg.ports.added[cell];
    rmSync(join(this.cfg.dataDir, 'cells', cell), { recursive: true, force: true });
    rmSync(join(this.cfg.dataDir, 'backups', cell), { recursive: true, force: true });
    // Under --hosts its host goes too: agent, namespace, link (topology/hosts/cell-host.ts).
    await cellHostDown(this.hostOwner, cell);
    this.scheduleWrite();
  }

  /** What topology/hosts/cell-host.ts needs of the supervisor to make and remove a cell's host. */
  private get hostOwner(): CellHostOwner {
    return {
      cfg: this.cfg,
      add: (spec) => this.add(spec),
      drop: (name) => this.drop(name),
      progress: this.progress,
      log: this.log,
    };
  }

  /** Brings a split cell's delivery service to `n` instances (`cellctl cells scale`); one scaling at a time. */
  async scaleDelivery(cell: string, n: number): Promise<Scaled> {
    return this.deliveryChange(cell, (host) => scaleDelivery(host, cell, n));
  }

  /** Starts (or replaces) a split cell's delivery instance `n` running `version` (a delivery rollout's step). */
  async startDelivery(cell: string, n: number, version: string, defect?: unknown): Promise<Child> {
    return this.deliveryChange(cell, (host) => startDeliveryInstance(host, cell, n, version, defect));
  }

  /** Stops and forgets a split cell's delivery instance `n` (a delivery rollout's step). */
  async stopDelivery(cell: string, n: number): Promise<void> {
    return this.deliveryChange(cell, (host) => stopDeliveryInstance(host, cell, n));
  }

  /** Changes to delivery children run one at a time (a scale and a rollout's step never interleave). */
  private async deliveryChange<T>(cell: string, change: (host: DeliveryHost) => Promise<T>): Promise<T> {
    if (!this.seeded?.cells.has(cell)) throw new UnknownCellError(cell);
    const host = { cfg: this.cfg, children: this.children, add: (s: ChildSpec) => this.add(s), drop: (name: string) => this.drop(name) };
    const run = this.scaling.then(() => change(host));
    this.scaling = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.scheduleWrite();
    }
  }

  /**
   * Cuts (`cut`) or restores the one link of `host` (`cellctl up --hosts`): every connection of
   * the host, the supervisor's probes included, so its children are not probed meanwhile. With
   * `from`, cuts only the paths between `host` and those hosts (its link stays up); a restore
   * brings back the link and every path cut.
   */
  async partitionHost(host: string, cut: boolean, from?: readonly string[]): Promise<void> {
    const find = (name: string) => {
      const h = this.cfg.hosts?.hosts.find((x) => x.name === name);
      if (!h) throw new HttpError('not_found', `no host '${name.slice(0, 64)}' in this topology`);
      return h;
    };
    const h = find(host);
    if (from) {
      // A selective cut: the host's link (and so the supervisor's probes) stays up.
      if (!cut) throw new HttpError('invalid_request', 'a partition is restored whole: DELETE takes no from');
      const others = from.map(find);
      if (others.some((o) => o.name === host)) throw new HttpError('invalid_request', `host ${host} cannot be cut from itself`);
      await setPaths(h, others, true);
      this.cutPaths.set(host, [...(this.cutPaths.get(host) ?? []), ...others]);
      this.progress(`host ${host}: paths to ${from.join(', ')} cut`);
      return;
    }
    const kids = [...this.children.values()].filter((c) => c.spec.host === host);
    if (cut) for (const k of kids) k.paused = true;
    await setLink(h, !cut);
    if (cut) this.linkCut.add(host);
    if (!cut) {
      const paths = this.cutPaths.get(host);
      if (paths) await setPaths(h, paths, false);
      this.cutPaths.delete(host);
    }
    this.progress(`host ${host}: link ${cut ? 'cut' : 'restored'}`);
    if (!cut) for (const k of kids) k.paused = false;
    if (!cut && this.linkCut.delete(host)) await this.rejoin(h);
  }

  /**
   * After a cut link is restored: the host's Consul agent joins the servers again, so that a node
   * declared dead meanwhile is alive again within a second, not at Serf's next reconnect pass
   * (topology/hosts/rejoin.ts). A failure is reported, not thrown: the link is back either way.
   */
  private async rejoin(h: Host): Promise<void> {
    try {
      const joined = await rejoinServers(this.cfg, h, this.log);
      if (joined) this.progress(`host ${h.name}: its Consul agent joined ${joined.server} again (${joined.ms} ms)`);
    } catch (err) {
      this.log.warn({ host: h.name, err: (err as Error).message }, 'consul agent did not join again after the restore');
      this.progress(`host ${h.name}: ${(err as Error).message}`);
    }
  }

  /** Stops and forgets a cell instance. */
  async stopCell(cell: string, color: 'blue' | 'green'): Promise<void> {
    await this.drop(cellChildName(cell, color));
  }

  private async drop(name: string): Promise<void> {
    const child = this.children.get(name);
    if (!child) return;
    await child.stop();
    child.close();
    this.children.delete(name);
    this.scheduleWrite();
  }

  /** The children a control-channel name means: one child, or every instance of a cell. */
  resolve(name: string): Child[] {
    const one = this.children.get(name);
    if (one) return [one];
    return [...this.children.values()].filter((c) => c.spec.cell === name);
  }

  /** Rewrites topology.json soon (pids and cell instances change after restarts and rollouts). */
  scheduleWrite(): void {
    if (this.writeTimer || this.stopping || !this.started) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = undefined;
      if (!this.stopping) this.writeTopology();
    }, 200);
    this.writeTimer.unref();
  }

  /** The topology.json document. */
  describe(): Record<string, unknown> {
    const c = this.cfg;
    const kids = [...this.children.values()];
    const of = (kind: string) => kids.filter((k) => k.spec.kind === kind);
    /** pid: the process that listens; wrapperPid: its watchdog (the process group). */
    const proc = (k: Child | undefined) => ({
      pid: k?.pid ?? null,
      wrapperPid: k?.wrapperPid ?? null,
      state: k?.state ?? 'stopped',
      ...(k?.problem ? { problem: k.problem, problemAt: k.problemAt } : {}),
    });
    const cells = [...new Set(of('cell').map((k) => k.spec.cell!))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    return {
      version: 1,
      startedAt: new Date().toISOString(),
      dataDir: c.dataDir,
      prefix: c.prefix,
      /** Token files (paths only): `operator` for cellctl, `read`, `cell-admin`, `supervisor`. */
      tokenFiles: c.tokenFiles,
      logs: this.logDir,
      supervisor: { url: supervisorUrl(c), pid: process.pid },
      consul: { url: consulUrl(c), ...proc(this.children.get('consul') ?? this.children.get('consul.consul-1')), persist: c.persist },
      ...(c.hosts
        ? {
            hosts: hostsView(
              c.hosts,
              kids.map((k) => ({ name: k.spec.name, host: k.spec.host })),
            ),
          }
        : {}),
      controlPlane: {
        url: this.children.get('control-plane')?.spec.url ?? `http://127.0.0.1:${c.ports.controlPlane}`,
        xds: `${c.hosts ? hostIp(c.hosts, 'cp') : '127.0.0.1'}:${c.ports.xds}`,
        ...proc(this.children.get('control-plane')),
      },
      routers: of('router').map((k) => ({ id: k.spec.name, url: k.spec.url, ...proc(k) })),
      envoys: of('envoy').map((k, i) => ({
        id: k.spec.name,
        url: k.spec.url,
        admin: envoyAdminUrl(c, i, c.hosts ? hostIp(c.hosts, k.spec.host!) : '127.0.0.1'),
        ...proc(k),
      })),
      cells: cells.map((cell) => {
        const inst = of('cell').filter((k) => k.spec.cell === cell);
        const main = inst.find((k) => k.state === 'running') ?? inst[0]!;
        return {
          id: cell,
          url: main.spec.url,
          ...proc(main),
          canary: cell === 'cell-0',
          global: cell === globalCell(c.cells),
          ...brokerView(this.children, cell),
          ...deliveryView(this.children, cell),
          instances: inst.map((k) => ({
            name: k.spec.name,
            color: k.spec.color,
            version: k.spec.version,
            url: k.spec.url,
            ...proc(k),
          })),
        };
      }),
      markets: DEFAULT_MARKETS.map((m) => ({ id: m.id, weight: m.weight, cell: this.seeded?.markets.get(m.id) ?? null })),
    };
  }

  private writeTopology(): void {
    const file = join(this.cfg.dataDir, 'topology.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.describe(), null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  /** Stops every child in reverse start order, then the control channel; removes topology.json. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.consulReload?.close();
    this.stopping = true;
    rmSync(join(this.cfg.dataDir, 'topology.json'), { force: true });
    const order: ChildSpec['kind'][] = ['envoy', 'router', 'control-plane', 'cell', 'delivery', 'kafka', 'consul'];
    for (const kind of order) {
      const group = [...this.children.values()].filter((c) => c.spec.kind === kind);
      if (group.length) this.progress(`stopping ${group.map((g) => g.spec.name).join(', ')}`);
      await Promise.all(group.map((c) => c.stop(kind === 'cell' || kind === 'delivery' || kind === 'kafka' ? 15_000 : 10_000)));
      for (const c of group) c.close();
    }
    await this.control?.close();
    if (this.cfg.hosts) await networkDown(this.cfg.hosts, this.progress);
  }
}
