/** The routers (routers.yaml, with router/node-options.ts's V8 options), the control plane (control-plane.yaml) and the Envoy edge (envoy.yaml). */
import { ROUTER_NODE_OPTIONS } from '../../router/node-options.js';
import { tokenPath } from '../../shared/tokens.js';
import {
  ADMIN_SECRET,
  ADMIN_TOKENS,
  ADMIN_TOKENS_DIR,
  appName,
  BUNDLE_DIR,
  cellsimPod,
  component,
  consulEnv,
  consulToken,
  CONTROL_PLANE_REPLICAS,
  ENVOY_ADMIN_PORT,
  ENVOY_PORT,
  ENVOY_REPLICAS,
  ETC,
  httpProbes,
  type ManifestFile,
  meta,
  mount,
  NS,
  PART_OF,
  podIp,
  podName,
  ports,
  resources,
  ROUTER_PORT,
  ROUTER_REPLICAS,
  secretVolume,
  STATE,
} from './model.js';

/** A Deployment of `replicas` pods of `pod`, selected by `sel`. */
function deployment(name: string, labels: Record<string, string>, sel: Record<string, string>, replicas: number, pod: unknown) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, labels),
    spec: { replicas, selector: { matchLabels: sel }, template: { metadata: { labels }, spec: pod } },
  };
}

export function routersFile(): ManifestFile {
  const name = 'cellsim-router';
  const labels = { ...PART_OF, ...component('router'), ...appName(name) };
  const sel = appName(name);
  return {
    name: 'routers.yaml',
    header: `Stateless router replicas behind one Service; each keeps its last good table on an emptyDir
so a restart while Consul is down still routes (static stability). The root filesystem is
read-only: the router's bundle (bin/bundle.mjs) is built into an emptyDir at
${BUNDLE_DIR}, as the control plane's, the cells' and the Envoys' are.`,
    docs: [
      {
        object: deployment(
          name,
          labels,
          sel,
          ROUTER_REPLICAS,
          cellsimPod({
            name: 'router',
            extra: {
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'ScheduleAnyway',
                  labelSelector: { matchLabels: sel },
                },
              ],
            },
            args: [
              'router',
              '--port',
              String(ROUTER_PORT),
              '--host',
              '$(POD_IP)',
              '--id',
              '$(POD_NAME)',
              '--snapshot',
              '/state/table.json',
              '--workers',
              '2',
              '--router-admin-token-file',
              tokenPath(ETC, 'router-admin'),
            ],
            env: [podIp, podName, ...consulEnv('router'), { name: 'NODE_OPTIONS', value: ROUTER_NODE_OPTIONS }],
            ports: [{ name: 'http', containerPort: ROUTER_PORT }],
            probes: httpProbes('http'),
            resources: resources('500m', '256Mi', '512Mi'),
            own: [STATE],
            // its route view's token (the control plane's freeze barrier asks it), no other admin token
            tokens: [
              {
                mount: mount('admin-tokens', ADMIN_TOKENS_DIR, true),
                volume: secretVolume('admin-tokens', ADMIN_SECRET, ['router-admin']),
              },
              consulToken('router'),
            ],
          }),
        ),
        notes: [
          {
            path: ['spec', 'template', 'spec', 'containers', 0, 'args'],
            text: "Bound and registered on the pod's address under the pod's name: two replicas are two Consul registrations",
          },
          {
            path: ['spec', 'template', 'spec', 'containers', 0, 'env', 4],
            text: "the request thread's young generation at 2 x 8 MB, not 2 x 16 MB (router/node-options.ts)",
          },
        ],
      },
      {
        object: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name, namespace: NS },
          spec: { selector: sel, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
        },
      },
      {
        object: {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { name, namespace: NS },
          spec: { minAvailable: 1, selector: { matchLabels: sel } },
        },
      },
    ],
  };
}

export function controlPlaneFile(): ManifestFile {
  const name = 'cellsim-control-plane';
  const labels = { ...PART_OF, ...component('control-plane'), ...appName(name) };
  const sel = appName(name);
  return {
    name: 'control-plane.yaml',
    header: `The control plane: xDS (gRPC) for the Envoy edge and the admin API for operators. Two
replicas serve the same content-versioned snapshots; operator workflows take a Consul
session lock, so a second replica is a safe standby. No supervisor runs here: rollouts and
\`cells add\` change records, and Kubernetes (not cellctl up) runs the processes.`,
    docs: [
      {
        object: deployment(
          name,
          labels,
          sel,
          CONTROL_PLANE_REPLICAS,
          cellsimPod({
            name: 'control-plane',
            args: [
              'control-plane',
              '--port',
              String(ports.controlPlane),
              '--xds-port',
              String(ports.xds),
              '--data',
              '/state',
              '--host',
              '$(POD_IP)',
              '--id',
              '$(POD_NAME)',
              ...ADMIN_TOKENS.flatMap((k) => [`--${k}-token-file`, tokenPath(ETC, k)]),
            ],
            env: [podIp, podName, ...consulEnv('control-plane')],
            ports: [
              { name: 'admin', containerPort: ports.controlPlane },
              { name: 'xds', containerPort: ports.xds },
            ],
            probes: httpProbes('admin'),
            resources: resources('250m', '256Mi', '1Gi'),
            own: [STATE],
            // every admin token: its own API's (operator, read) and those of the surfaces it calls (cell-admin, router-admin)
            tokens: [
              { mount: mount('admin-tokens', ADMIN_TOKENS_DIR, true), volume: secretVolume('admin-tokens', ADMIN_SECRET) },
              consulToken('control-plane'),
            ],
          }),
        ),
        notes: [
          {
            path: ['spec', 'template', 'spec', 'containers', 0, 'args'],
            text: `Bound to the pod's address (probes and Services reach it there), one ID per pod (its Consul session and Envoy
node metadata). One token per surface (docs/security.md), each a file of a mounted Secret.`,
          },
        ],
      },
      {
        object: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'cellsim-xds', namespace: NS },
          spec: { selector: sel, ports: [{ name: 'grpc', port: ports.xds, targetPort: 'xds', appProtocol: 'grpc' }] },
        },
      },
      {
        object: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'cellsim-admin', namespace: NS },
          spec: { selector: sel, ports: [{ name: 'http', port: ports.controlPlane, targetPort: 'admin' }] },
        },
      },
    ],
  };
}

export function envoyFile(): ManifestFile {
  const name = 'cellsim-envoy';
  const labels = { ...PART_OF, ...component('envoy'), ...appName(name) };
  const sel = appName(name);
  return {
    name: 'envoy.yaml',
    header: `The Envoy edge: real Envoy run by \`cellctl envoy\`, configured only by the cellsim xDS
service (ADS, delta). Envoy keeps serving its last config while the control plane is away.
Its admin listener stays on 127.0.0.1 (the default); probes check the edge listener.`,
    docs: [
      {
        object: deployment(
          name,
          labels,
          sel,
          ENVOY_REPLICAS,
          cellsimPod({
            name: 'envoy',
            args: [
              'envoy',
              '--listen',
              String(ENVOY_PORT),
              '--listen-address',
              '$(POD_IP)',
              '--admin',
              String(ENVOY_ADMIN_PORT),
              '--xds',
              `cellsim-xds:${ports.xds}`,
              '--id',
              '$(POD_NAME)',
              '--data',
              '/state',
              '--concurrency',
              '2',
            ],
            env: [podIp, podName],
            ports: [{ name: 'http', containerPort: ENVOY_PORT }],
            probes: {
              readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 2 },
              livenessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 10, failureThreshold: 6 },
            },
            resources: resources('500m', '256Mi', '1Gi'),
            own: [STATE],
          }),
        ),
      },
      {
        object: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'cellsim-edge', namespace: NS },
          spec: { type: 'LoadBalancer', selector: sel, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
        },
      },
    ],
  };
}
