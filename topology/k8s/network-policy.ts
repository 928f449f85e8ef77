/** Who may reach whom (network-policy.yaml): ingress and egress denied by default, each connection admitted on both ends. */
import { CELL_PORT, component, ENVOY_PORT, type ManifestFile, NS, PART_OF, ports, ROUTER_PORT } from './model.js';

/** A NetworkPolicy object. */
const policy = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: NS },
  spec,
});
const tcp = (...list: number[]) => list.map((port) => ({ port, protocol: 'TCP' }));
const pods = (name: string) => ({ podSelector: { matchLabels: component(name) } });
const anyOf = (...names: string[]) => ({ matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: names }] });

export function networkPolicyFile(): ManifestFile {
  const c = ports.consul;
  const gossip = [...tcp(c.server, c.serfLan), { port: c.serfLan, protocol: 'UDP' }];
  return {
    name: 'network-policy.yaml',
    header: `Who may reach whom, by the pods' app.kubernetes.io/component label, on both ends: every other
ingress and every other egress is denied (a connection needs the egress rule of its source and
the ingress rule of its destination).
NetworkPolicy works on ports, not paths: a cell serves its orders and its /admin API on one port,
so the cells' port is open to the edge (routers, Envoy), the control plane, the other cells (a
share peer's reads during a market move by share, docs/weighted-shifts.md) and the Consul
servers (they run each cell's registered HTTP check, GET /readyz), and /admin is kept to the
control plane and the cells by the cell-admin token, which only they mount.
Kubelet probes come from the node, which common network plugins (Calico, Cilium) let through.`,
    docs: [
      { object: policy('default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }) },
      {
        object: policy('cells', {
          podSelector: { matchLabels: component('cell') },
          policyTypes: ['Ingress'],
          ingress: [
            { from: [{ podSelector: anyOf('router', 'envoy', 'control-plane', 'cell') }], ports: tcp(CELL_PORT) },
            { from: [pods('consul')], ports: tcp(CELL_PORT) },
          ],
        }),
        notes: [
          {
            path: ['spec', 'ingress', 0],
            text: 'serving (/v1) from the edge; the admin API (/admin) from the control plane and from share peers',
          },
          {
            path: ['spec', 'ingress', 1],
            text: "the Consul servers run each cell's registered HTTP check (GET /readyz, cells/register.ts)",
          },
        ],
      },
      {
        object: policy('control-plane', {
          podSelector: { matchLabels: component('control-plane') },
          policyTypes: ['Ingress'],
          ingress: [
            { from: [pods('envoy')], ports: tcp(ports.xds) },
            { from: [{ podSelector: {} }], ports: tcp(ports.controlPlane) },
          ],
        }),
        notes: [
          { path: ['spec', 'ingress', 0], text: 'xDS from the Envoys only' },
          { path: ['spec', 'ingress', 1], text: 'the admin API: token-guarded; operators reach it with kubectl port-forward' },
        ],
      },
      {
        object: policy('edge', {
          podSelector: anyOf('router', 'envoy'),
          policyTypes: ['Ingress'],
          ingress: [{ ports: tcp(ROUTER_PORT, ENVOY_PORT) }],
        }),
        notes: [{ path: ['spec', 'podSelector'], text: 'the edge takes traffic from anywhere (its Services, a load balancer)' }],
      },
      {
        object: policy('consul', {
          podSelector: { matchLabels: component('consul') },
          policyTypes: ['Ingress'],
          ingress: [
            { from: [{ podSelector: { matchLabels: PART_OF } }], ports: tcp(c.http) },
            { from: [pods('consul')], ports: gossip },
          ],
        }),
        notes: [
          { path: ['spec', 'ingress', 0], text: "its HTTP API from cellsim's pods (each with its own token)" },
          { path: ['spec', 'ingress', 1], text: 'Raft and gossip between the servers' },
        ],
      },
      { object: policy('default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] }) },
      {
        object: policy('egress-dns-and-consul', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [
            {
              to: [
                {
                  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
                  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
                },
              ],
              ports: [
                { port: 53, protocol: 'UDP' },
                { port: 53, protocol: 'TCP' },
              ],
            },
            { to: [pods('consul')], ports: tcp(c.http) },
          ],
        }),
        notes: [
          {
            path: ['spec', 'podSelector'],
            text: "every pod names its peers by Service (DNS) and reads or registers with Consul's HTTP API",
          },
        ],
      },
      {
        object: policy('egress-to-cells', {
          podSelector: anyOf('router', 'envoy', 'control-plane', 'cell'),
          policyTypes: ['Egress'],
          egress: [{ to: [pods('cell')], ports: tcp(CELL_PORT) }],
        }),
        notes: [
          {
            path: ['spec', 'podSelector'],
            text: 'the edge forwards to the cells; the control plane and share peers call their admin API',
          },
        ],
      },
      {
        object: policy('egress-control-plane-routers', {
          podSelector: { matchLabels: component('control-plane') },
          policyTypes: ['Egress'],
          egress: [{ to: [pods('router')], ports: tcp(ROUTER_PORT) }],
        }),
        notes: [
          {
            path: ['spec', 'podSelector'],
            text: "a migration's freeze barrier asks each router GET /route, the console scrapes their /metrics",
          },
        ],
      },
      {
        object: policy('egress-envoy-xds', {
          podSelector: { matchLabels: component('envoy') },
          policyTypes: ['Egress'],
          egress: [{ to: [pods('control-plane')], ports: tcp(ports.xds) }],
        }),
      },
      {
        object: policy('egress-consul', {
          podSelector: { matchLabels: component('consul') },
          policyTypes: ['Egress'],
          egress: [
            { to: [pods('consul')], ports: gossip },
            { to: [pods('cell')], ports: tcp(CELL_PORT) },
            { to: [pods('router')], ports: tcp(ROUTER_PORT) },
            { to: [pods('control-plane')], ports: tcp(ports.controlPlane) },
          ],
        }),
        notes: [
          { path: ['spec', 'egress', 0], text: 'Raft and gossip between the servers' },
          { path: ['spec', 'egress', 1], text: 'the HTTP checks of the processes registered with it (cells, routers, control plane)' },
        ],
      },
    ],
  };
}
