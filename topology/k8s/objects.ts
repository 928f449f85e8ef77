/**
 * The Kubernetes objects of a cellsim cluster (infra/deploy/k8s/), built from the model
 * `cellctl up` runs: the cell ids (cell-0 the small canary first, topology/config.ts), the default
 * port plan (topology/ports.ts), the Consul token kinds and their file names
 * (shared/consul-acl.ts), the admin token files (shared/tokens.ts), the router's V8 options
 * (router/node-options.ts) and the pinned Consul (infra/versions.env). Pure data:
 * topology/k8s/render.ts writes it as YAML, comments included.
 */
import { basename, dirname } from 'node:path';
import { pinnedVersions } from '../../infra/binaries.js';
import { ROUTER_NODE_OPTIONS } from '../../router/node-options.js';
import { CONSUL_TOKEN_KINDS, consulTokenPath, type ConsulTokenFile, type ConsulTokenKind } from '../../shared/consul-acl.js';
import { tokenPath, type TokenKind } from '../../shared/tokens.js';
import { cellIds, TOPOLOGY_DEFAULTS } from '../config.js';
import { portPlan } from '../ports.js';
import { CONSUL_ACL_FILE } from '../seed-cli.js';

/** A comment written above the key (or sequence item) at `path` of its object. */
export interface Note {
  path: (string | number)[];
  text: string;
}
/** One object of a manifest file, with its comments. */
export interface ManifestDoc {
  object: Record<string, unknown>;
  notes?: Note[];
}
/** One file of infra/deploy/k8s/: its name, the comment at its top, its objects in order. */
export interface ManifestFile {
  name: string;
  header: string;
  docs: ManifestDoc[];
}

/** What a cluster is made of: the number of cells (cell-0 … cell-(n-1), cell-0 the canary). */
export interface K8sPlan {
  cells: number;
}

/** The plan of the checked-in manifests: `cellctl up`'s default number of cells. */
export const DEFAULT_K8S_PLAN: K8sPlan = { cells: TOPOLOGY_DEFAULTS.cells };

const NS = 'cellsim';
const IMAGE = 'cellsim:dev';
/** The image's working directory (infra/deploy/Dockerfile WORKDIR). */
const APP = '/app';
/** The image's non-root user, `node`, and the group every pod's volumes belong to. */
const NODE_UID = 1000;
const FS_GROUP = 1000;
/** hashicorp/consul's `consul` user. */
const CONSUL_UID = 100;
/** Secret files: root-owned, readable by the pod's fsGroup (0440). */
const SECRET_MODE = 0o440;
const CONSUL_REPLICAS = 3;
const ROUTER_REPLICAS = 2;
const CONTROL_PLANE_REPLICAS = 2;
const ENVOY_REPLICAS = 2;
const CONSUL_SERVICE = 'consul-server';
/**
 * The commands bin/bundle.mjs runs from a bundle it builds at their first start, and where (under
 * the image's root). Written here because topology/ may not import bin/, which imports it;
 * infra/deploy/manifests.test.ts checks every command of bin/bundle.mjs has this volume.
 */
const BUNDLED_COMMANDS = ['router', 'control-plane', 'cell', 'envoy'];
const BUNDLE_DIR = 'node_modules/.cache/cellsim-bundle';

const ports = portPlan();
const CELL_PORT = ports.cellBase;
const ROUTER_PORT = ports.routers[0]!;
const ENVOY_PORT = ports.envoys[0]!.listen;
const ENVOY_ADMIN_PORT = ports.envoys[0]!.admin;
const CONSUL_URL = `http://${CONSUL_SERVICE}:${ports.consul.http}`;

/** Where a pod finds its tokens: the admin tokens as `cellctl up`'s `<data>/tokens/<kind>`, Consul's in a directory of their own. */
const ETC = '/etc/cellsim';
const ADMIN_TOKENS_DIR = dirname(tokenPath(ETC, 'operator'));
const CONSUL_TOKENS_DIR = `${ETC}/consul`;
const ADMIN_SECRET = 'cellsim-admin-tokens';
const CONSUL_SECRET = 'cellsim-consul-tokens';
const CONSUL_ACL_SECRET = 'consul-acl';
/** The admin tokens a cluster uses: no supervisor runs there, so not its token. */
const ADMIN_TOKENS: TokenKind[] = ['operator', 'read', 'cell-admin'];
/** The Consul token files: the management token, then one per kind (the order `cellctl seed secrets` makes them in). */
const CONSUL_TOKEN_FILES: ConsulTokenFile[] = ['management', ...CONSUL_TOKEN_KINDS];
/** The Secret key of a Consul token file: its file name, `consul-<kind>`. */
const consulKey = (kind: ConsulTokenFile) => basename(consulTokenPath('.', kind));
/** Where `cellctl seed secrets --dir infra/deploy/k8s/secrets` writes the token files, relative to the kustomization. */
const SECRET_FILES = dirname(tokenPath('secrets', 'operator'));

const PART_OF = { 'app.kubernetes.io/part-of': NS };
const component = (name: string) => ({ 'app.kubernetes.io/component': name });
const appName = (name: string) => ({ 'app.kubernetes.io/name': name });
const meta = (name: string, labels?: Record<string, string>) => ({ name, namespace: NS, ...(labels ? { labels } : {}) });
const podIp = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };
const podName = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
const consulEnv = (kind: ConsulTokenKind) => [
  { name: 'CELLSIM_CONSUL', value: CONSUL_URL },
  { name: 'CELLSIM_CONSUL_TOKEN_FILE', value: `${CONSUL_TOKENS_DIR}/${consulKey(kind)}` },
];
const podSecurity = (uid: number) => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: FS_GROUP,
  fsGroup: FS_GROUP,
  seccompProfile: { type: 'RuntimeDefault' },
});
const containerSecurity = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
const emptyDir = (name: string) => ({ name, emptyDir: {} });
const mount = (name: string, mountPath: string, readOnly?: boolean) => ({ name, mountPath, ...(readOnly ? { readOnly } : {}) });
/** A Secret volume: `keys` only (each at its own name), or every key. */
const secretVolume = (name: string, secretName: string, keys?: string[]) => ({
  name,
  secret: { secretName, defaultMode: SECRET_MODE, ...(keys ? { items: keys.map((key) => ({ key, path: key })) } : {}) },
});
const resources = (cpu: string, memory: string, limit: string) => ({ requests: { cpu, memory }, limits: { memory: limit } });
const httpProbes = (port: string, readinessPeriod = 2) => ({
  readinessProbe: { httpGet: { path: '/readyz', port }, periodSeconds: readinessPeriod },
  livenessProbe: { httpGet: { path: '/healthz', port }, periodSeconds: 10 },
});

/** The bundle volume of a container that runs a bundled command (bin/bundle.mjs builds it at the first start). */
function bundle(command: string): Vol[] {
  return BUNDLED_COMMANDS.includes(command) ? [{ mount: mount('bundle', `${APP}/${BUNDLE_DIR}`), volume: emptyDir('bundle') }] : [];
}

/** A volume of a pod and where its container mounts it (no volume: a volumeClaimTemplate's). */
interface Vol {
  mount: object;
  volume?: object;
}

/**
 * The pod template's spec of a cellsim workload running `cellctl <args>`: its own volumes first,
 * then /tmp and the bundle's (a bundled command), then its tokens' Secrets.
 */
function cellsimPod(o: {
  name: string;
  args: string[];
  env?: object[];
  ports?: object[];
  probes?: object;
  resources: object;
  own: Vol[];
  tokens?: Vol[];
  extra?: Record<string, unknown>;
  grace?: boolean;
}): Record<string, unknown> {
  const b = bundle(o.args[0]!);
  const vols = [...o.own, { mount: mount('tmp', '/tmp'), volume: emptyDir('tmp') }, ...b, ...(o.tokens ?? [])];
  return {
    ...o.extra,
    automountServiceAccountToken: false,
    securityContext: podSecurity(NODE_UID),
    containers: [
      {
        name: o.name,
        image: IMAGE,
        args: o.args,
        ...(o.env ? { env: o.env } : {}),
        ...(o.ports ? { ports: o.ports } : {}),
        ...o.probes,
        resources: o.resources,
        securityContext: containerSecurity,
        volumeMounts: vols.map((v) => v.mount),
      },
    ],
    volumes: vols.flatMap((v) => (v.volume ? [v.volume] : [])),
    ...(o.grace ? { terminationGracePeriodSeconds: 30 } : {}),
  };
}

/** A process's state on an emptyDir at /state. */
const STATE: Vol = { mount: mount('state', '/state'), volume: emptyDir('state') };
/** The Consul token of `kind`, alone, at CONSUL_TOKENS_DIR/consul-<kind>. */
const consulToken = (kind: ConsulTokenKind): Vol => ({
  mount: mount('consul-token', CONSUL_TOKENS_DIR, true),
  volume: secretVolume('consul-token', CONSUL_SECRET, [consulKey(kind)]),
});

function namespaceFile(): ManifestFile {
  return {
    name: 'namespace.yaml',
    header: "The namespace of every cellsim object, Consul's servers included.",
    docs: [{ object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } }],
  };
}

function consulFile(): ManifestFile {
  const labels = { ...PART_OF, ...component('consul') };
  const sel = component('consul');
  const c = ports.consul;
  const nodes = Array.from({ length: CONSUL_REPLICAS }, (_, i) => `consul-${i}`);
  return {
    name: 'consul.yaml',
    header: `Consul: ${CONSUL_REPLICAS} servers in one StatefulSet, a real Raft cluster (quorum ${Math.floor(CONSUL_REPLICAS / 2) + 1}), ACLs on with default deny.
The pinned open-source release (infra/versions.env): Consul 1.16.x is MPL-2.0; 1.17 and later
are under the Business Source License, so never a later image. The image's user is consul
(uid ${CONSUL_UID}, gid ${FS_GROUP}). Each server's config file comes from the ${CONSUL_ACL_SECRET} Secret
(\`cellctl seed secrets\` writes it; it names the management and agent tokens: no token on argv).
Rollouts: one server at a time (RollingUpdate), each waits for the previous to be ready (its
HTTP API answers), and the budget keeps ${CONSUL_REPLICAS - 1} of ${CONSUL_REPLICAS} up; a server keeps its Raft data and node ID on its
volume and rejoins with a new pod IP. Servers do not leave on terminate, so a rolling restart
never shrinks the quorum.`,
    docs: [
      {
        object: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: meta('consul', labels),
          spec: {
            clusterIP: 'None',
            publishNotReadyAddresses: true,
            selector: sel,
            ports: [
              { name: 'server', port: c.server, targetPort: 'server' },
              { name: 'serflan-tcp', port: c.serfLan, targetPort: 'serflan-tcp' },
              { name: 'serflan-udp', port: c.serfLan, protocol: 'UDP', targetPort: 'serflan-udp' },
              { name: 'http', port: c.http, targetPort: 'http' },
            ],
          },
        },
        notes: [
          {
            path: ['spec', 'clusterIP'],
            text: 'headless, with not-ready pods published: the servers find each other (retry-join) before a leader exists',
          },
        ],
      },
      {
        object: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: meta(CONSUL_SERVICE, labels),
          spec: { selector: sel, ports: [{ name: 'http', port: c.http, targetPort: 'http' }] },
        },
        notes: [
          { path: ['spec', 'selector'], text: `what every cellsim process reaches (CELLSIM_CONSUL=${CONSUL_URL}): ready servers only` },
        ],
      },
      {
        object: {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata: meta('consul', labels),
          spec: {
            serviceName: 'consul',
            replicas: CONSUL_REPLICAS,
            podManagementPolicy: 'Parallel',
            updateStrategy: { type: 'RollingUpdate' },
            selector: { matchLabels: sel },
            template: {
              metadata: { labels },
              spec: {
                affinity: {
                  podAntiAffinity: {
                    preferredDuringSchedulingIgnoredDuringExecution: [
                      { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: sel } } },
                    ],
                  },
                },
                automountServiceAccountToken: false,
                securityContext: podSecurity(CONSUL_UID),
                containers: [
                  {
                    name: 'consul',
                    image: `hashicorp/consul:${pinnedVersions().consul}`,
                    command: ['consul'],
                    args: [
                      'agent',
                      '-server',
                      `-bootstrap-expect=${CONSUL_REPLICAS}`,
                      '-node=$(POD_NAME)',
                      '-disable-host-node-id',
                      '-bind=$(POD_IP)',
                      '-advertise=$(POD_IP)',
                      '-client=$(POD_IP)',
                      '-data-dir=/consul/data',
                      `-config-file=/consul/acl/${CONSUL_ACL_FILE}`,
                      ...nodes.map((n) => `-retry-join=${n}.consul`),
                      '-ui=false',
                    ],
                    env: [podIp, podName],
                    ports: [
                      { name: 'server', containerPort: c.server },
                      { name: 'serflan-tcp', containerPort: c.serfLan },
                      { name: 'serflan-udp', containerPort: c.serfLan, protocol: 'UDP' },
                      { name: 'http', containerPort: c.http },
                    ],
                    readinessProbe: { httpGet: { path: '/v1/status/leader', port: 'http' }, periodSeconds: 3 },
                    livenessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 10, failureThreshold: 6 },
                    resources: resources('250m', '256Mi', '512Mi'),
                    securityContext: containerSecurity,
                    volumeMounts: [mount('data', '/consul/data'), mount('acl', '/consul/acl', true), mount('tmp', '/tmp')],
                  },
                ],
                volumes: [secretVolume('acl', CONSUL_ACL_SECRET), emptyDir('tmp')],
                terminationGracePeriodSeconds: 30,
              },
            },
            volumeClaimTemplates: [pvc('1Gi')],
          },
        },
        notes: [
          {
            path: ['spec', 'podManagementPolicy'],
            text: `all ${CONSUL_REPLICAS} start at once: -bootstrap-expect=${CONSUL_REPLICAS} waits for the others`,
          },
          {
            path: ['spec', 'template', 'spec', 'containers', 0, 'args'],
            text: "the node name is the pod's (one per replica); bound and serving HTTP on the pod's address",
          },
          {
            path: ['spec', 'template', 'spec', 'containers', 0, 'readinessProbe'],
            text: "on the pod's address, through its HTTP API (status endpoints need no token; they answer before a leader exists)",
          },
        ],
      },
      {
        object: {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { name: 'consul', namespace: NS },
          spec: { maxUnavailable: 1, selector: { matchLabels: sel } },
        },
        notes: [
          {
            path: ['spec', 'maxUnavailable'],
            text: `quorum of ${CONSUL_REPLICAS} is ${Math.floor(CONSUL_REPLICAS / 2) + 1}: never more than one server down by choice`,
          },
        ],
      },
    ],
  };
}

function pvc(storage: string): object {
  return { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } };
}

function seedFile(plan: K8sPlan): ManifestFile {
  const labels = { ...PART_OF, ...component('seed') };
  const ids = cellIds(plan.cells);
  const nodes = Array.from({ length: CONSUL_REPLICAS }, (_, i) => `consul-${i}`);
  const data = '/seed';
  return {
    name: 'seed.yaml',
    header: `The seed Job: what \`cellctl up\` does to a fresh Consul, so a fresh cluster routes. With the
management token it makes every component's ACL policy and token (the tokens' secrets are the
files of ${CONSUL_SECRET}), then writes the cell records ${cellRange(ids)} (cell-0 the canary)
and the market map, create-only: rerunning it changes nothing. It waits up to --timeout for
the servers to elect a leader. Until it has run, Consul refuses the other components (default deny).`,
    docs: [
      {
        object: {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: meta('cellsim-seed', labels),
          spec: {
            backoffLimit: 6,
            template: {
              metadata: { labels },
              spec: cellsimPod({
                extra: { restartPolicy: 'OnFailure' },
                name: 'seed',
                args: [
                  'seed',
                  '--consul',
                  CONSUL_URL,
                  '--data',
                  data,
                  '--cells',
                  String(plan.cells),
                  '--nodes',
                  nodes.join(','),
                  '--timeout',
                  '300',
                ],
                resources: resources('100m', '128Mi', '256Mi'),
                own: [
                  {
                    mount: mount('tokens', dirname(consulTokenPath(data, 'management')), true),
                    volume: secretVolume('tokens', CONSUL_SECRET),
                  },
                ],
              }),
            },
          },
        },
        notes: [
          {
            path: ['spec', 'template', 'spec', 'containers', 0, 'args'],
            text: "--cells: the cell StatefulSets of cells.yaml; --nodes: the Consul servers' -node names (the agent token writes them)",
          },
        ],
      },
    ],
  };
}

/** `cell-0 … cell-3`, or the one or two ids there are. */
function cellRange(ids: string[]): string {
  return ids.length > 2 ? `${ids[0]} … ${ids[ids.length - 1]}` : ids.join(' and ');
}

function cellDocs(id: string): ManifestDoc[] {
  const canary = id === cellIds(1)[0];
  const sel = { ...component('cell'), 'cellsim/cell': id };
  const labels = { ...PART_OF, ...sel };
  const pod = cellsimPod({
    name: 'cell',
    args: [
      'cell',
      '--id',
      id,
      '--port',
      String(CELL_PORT),
      '--host',
      '$(POD_IP)',
      '--data',
      '/data',
      '--color',
      'blue',
      '--version',
      TOPOLOGY_DEFAULTS.initialVersion,
      '--cell-admin-token-file',
      tokenPath(ETC, 'cell-admin'),
    ],
    env: [podIp, ...consulEnv('cell')],
    ports: [{ name: 'http', containerPort: CELL_PORT }],
    probes: httpProbes('http'),
    resources: canary ? resources('100m', '128Mi', '256Mi') : resources('500m', '256Mi', '1Gi'),
    // the data volume is the StatefulSet's volumeClaimTemplate
    own: [{ mount: mount('data', '/data') }],
    tokens: [
      { mount: mount('admin-tokens', ADMIN_TOKENS_DIR, true), volume: secretVolume('admin-tokens', ADMIN_SECRET, ['cell-admin']) },
      consulToken('cell'),
    ],
    grace: true,
  });
  return [
    {
      object: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(id, { ...PART_OF, 'cellsim/cell': id }),
        spec: { clusterIP: 'None', selector: sel, ports: [{ name: 'http', port: CELL_PORT, targetPort: 'http' }] },
      },
      notes: [
        {
          path: ['spec', 'clusterIP'],
          text: `headless: the StatefulSet's governing Service (${id}-0.${id}); clients find the cell through Consul`,
        },
      ],
    },
    {
      object: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta(id, labels),
        spec: {
          serviceName: id,
          replicas: 1,
          selector: { matchLabels: sel },
          template: { metadata: { labels: { ...labels, 'cellsim/color': 'blue' } }, spec: pod },
          volumeClaimTemplates: [pvc(canary ? '1Gi' : '10Gi')],
        },
      },
      notes: [{ path: ['spec', 'replicas'], text: 'one process per cell id: a second replica would register the same cell twice' }],
    },
  ];
}

function cellsFile(plan: K8sPlan): ManifestFile {
  const ids = cellIds(plan.cells);
  return {
    name: 'cells.yaml',
    header: `One StatefulSet per cell: each cell owns its SQLite volume (no storage shared between cells).
cell-0 is the deliberately small canary cell; ${ids.length > 1 ? `${cellRange(ids.slice(1))} ` : ''}as in \`cellctl up\` (${ids.length} cells; the
seed Job's --cells must match). The volume is group-owned by fsGroup ${FS_GROUP}, the image's non-root
\`node\` user. Each cell has a headless Service, its StatefulSet's governing Service. Tokens are
files from Secrets (defaultMode ${SECRET_MODE} = 0${SECRET_MODE.toString(8)}: root-owned, readable by the fsGroup), never env or argv.`,
    docs: ids.flatMap(cellDocs),
  };
}

function routersFile(): ManifestFile {
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
        object: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: meta(name, labels),
          spec: {
            replicas: ROUTER_REPLICAS,
            selector: { matchLabels: sel },
            template: {
              metadata: { labels },
              spec: cellsimPod({
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
                ],
                env: [podIp, podName, ...consulEnv('router'), { name: 'NODE_OPTIONS', value: ROUTER_NODE_OPTIONS }],
                ports: [{ name: 'http', containerPort: ROUTER_PORT }],
                probes: httpProbes('http'),
                resources: resources('500m', '256Mi', '512Mi'),
                own: [STATE],
                tokens: [consulToken('router')],
              }),
            },
          },
        },
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

function controlPlaneFile(): ManifestFile {
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
        object: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: meta(name, labels),
          spec: {
            replicas: CONTROL_PLANE_REPLICAS,
            selector: { matchLabels: sel },
            template: {
              metadata: { labels },
              spec: cellsimPod({
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
                // every admin token: its own API's (operator, read) and the cells' it calls (cell-admin)
                tokens: [
                  { mount: mount('admin-tokens', ADMIN_TOKENS_DIR, true), volume: secretVolume('admin-tokens', ADMIN_SECRET) },
                  consulToken('control-plane'),
                ],
              }),
            },
          },
        },
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

function envoyFile(): ManifestFile {
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
        object: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: meta(name, labels),
          spec: {
            replicas: ENVOY_REPLICAS,
            selector: { matchLabels: sel },
            template: {
              metadata: { labels },
              spec: cellsimPod({
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
            },
          },
        },
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

function networkPolicyFile(): ManifestFile {
  const c = ports.consul;
  const gossip = [...tcp(c.server, c.serfLan), { port: c.serfLan, protocol: 'UDP' }];
  return {
    name: 'network-policy.yaml',
    header: `Who may reach whom, by the pods' app.kubernetes.io/component label, on both ends: every other
ingress and every other egress is denied (a connection needs the egress rule of its source and
the ingress rule of its destination).
NetworkPolicy works on ports, not paths: a cell serves its orders and its /admin API on one port,
so the cells' port is open to the edge (routers, Envoy), the control plane and the Consul servers
(they run each cell's registered HTTP check, GET /readyz), and /admin is
kept to the control plane by the cell-admin token, which only cells and the control plane mount.
Kubelet probes come from the node, which common network plugins (Calico, Cilium) let through.`,
    docs: [
      { object: policy('default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }) },
      {
        object: policy('cells', {
          podSelector: { matchLabels: component('cell') },
          policyTypes: ['Ingress'],
          ingress: [
            { from: [{ podSelector: anyOf('router', 'envoy', 'control-plane') }], ports: tcp(CELL_PORT) },
            { from: [pods('consul')], ports: tcp(CELL_PORT) },
          ],
        }),
        notes: [
          { path: ['spec', 'ingress', 0], text: 'serving (/v1) from the edge; the admin API (/admin, migrations) from the control plane' },
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
          podSelector: anyOf('router', 'envoy', 'control-plane'),
          policyTypes: ['Egress'],
          egress: [{ to: [pods('cell')], ports: tcp(CELL_PORT) }],
        }),
        notes: [
          { path: ['spec', 'podSelector'], text: 'the edge forwards to the cells; the control plane drives their admin API (migrations)' },
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

function kustomizationFile(resources: string[]): ManifestFile {
  const files = (keys: string[]) => keys.map((k) => `${k}=${SECRET_FILES}/${k}`);
  return {
    name: 'kustomization.yaml',
    header: `kubectl apply -k infra/deploy/k8s (infra/deploy/README.md). The Secrets are made from files
that \`cellctl seed secrets --dir infra/deploy/k8s/secrets\` writes (kept out of git); a missing
file stops the apply before anything is created.`,
    docs: [
      {
        object: {
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          namespace: NS,
          resources,
          generatorOptions: { disableNameSuffixHash: true },
          secretGenerator: [
            { name: ADMIN_SECRET, files: files(ADMIN_TOKENS) },
            { name: CONSUL_SECRET, files: files(CONSUL_TOKEN_FILES.map(consulKey)) },
            { name: CONSUL_ACL_SECRET, files: files([CONSUL_ACL_FILE]) },
          ],
        },
        notes: [
          {
            path: ['generatorOptions'],
            text: "fixed names: the seed Job's template is immutable once applied; rotate tokens with kubectl rollout restart",
          },
        ],
      },
    ],
  };
}

/**
 * Every file of a cluster of `plan.cells` cells, in the order the kustomization applies them
 * (kustomization.yaml last). Throws on a plan no cluster can have (fewer than one cell).
 */
export function k8sManifests(plan: K8sPlan = DEFAULT_K8S_PLAN): ManifestFile[] {
  if (!Number.isInteger(plan.cells) || plan.cells < 1) throw new RangeError(`cells: ${plan.cells} is not a positive integer`);
  const files = [
    namespaceFile(),
    consulFile(),
    seedFile(plan),
    cellsFile(plan),
    routersFile(),
    controlPlaneFile(),
    envoyFile(),
    networkPolicyFile(),
  ];
  const generated = `Generated by \`cellctl deploy k8s --cells ${plan.cells}\` from topology/k8s/objects.ts: change that, not this file.`;
  return [...files, kustomizationFile(files.map((f) => f.name))].map((f) => ({ ...f, header: `${generated}\n${f.header}` }));
}
