/**
 * Whether Consul is reachable, as the xDS feed reports it. A watch that failed answers again only
 * when its index moves (up to its 30 s wait), so while Consul is unreachable it is probed for a
 * leader every `probeMs` to tell when it is back.
 */
import type { ConsulClient } from '../../shared/consul/client.js';

/** Reachability of Consul: any answer marks it reachable, any failed watch unreachable until then. */
export class ConsulProbe {
  private probe: NodeJS.Timeout | undefined;
  private stopped = false;
  reachable = true;

  constructor(
    private readonly consul: Pick<ConsulClient, 'status'>,
    private readonly probeMs = 1000,
  ) {}

  /** A watch answered. */
  answered(): void {
    this.reachable = true;
    clearTimeout(this.probe);
    this.probe = undefined;
  }

  /** A watch failed: unreachable until a watch answers or a probe finds a leader. */
  failed(): void {
    this.reachable = false;
    if (this.probe !== undefined || this.stopped) return;
    const tick = () => {
      if (this.stopped) return;
      const probe = setTimeout(() => {
        // A watch that answered meanwhile (answered()) ends this chain; a failure after it started another.
        const next = (found: boolean) => {
          if (this.probe !== probe) return;
          if (found) this.answered();
          else tick();
        };
        this.consul.status.leader({ timeoutMs: 1000 }).then(
          (leader) => next(leader !== ''),
          () => next(false),
        );
      }, this.probeMs);
      probe.unref();
      this.probe = probe;
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.probe);
  }
}
