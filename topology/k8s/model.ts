/**
 * What every object of the Kubernetes manifests shares: the types of the model, the names, ports,
 * token files and users the objects agree on, and the pod template of a cellsim process. Built from
 * what \`cellctl up\` runs: the default port plan (topology/ports.ts), the Consul token kinds and
 * their file names (shared/consul-acl.ts), the admin token files (shared/tokens.ts).
 */
import { basename, dirname } from 'node:path';
import { CONSUL_TOKEN_KINDS, consulTokenPath, type ConsulTokenFile, type ConsulTokenKind } from '../../shared/consul-acl.js';
import { tokenPath, type TokenKind } from '../../shared/tokens.js';
import { TOPOLOGY_DEFAULTS } from '../config.js';
import { portPlan } from '../ports.js';

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

export const NS = 'cellsim';
const IMAGE = 'cellsim:dev';
/** The image's working directory (infra/deploy/Dockerfile WORKDIR). */
const APP = '/app';
/** The image's non-root user, `node`, and the group every pod's volumes belong to. */
const NODE_UID = 1000;
export const FS_GROUP = 1000;
/** hashicorp/consul's `consul` user. */
export const CONSUL_UID = 100;
/** Secret files: root-owned, readable by the pod's fsGroup (0440). */
export const SECRET_MODE = 0o440;
export const CONSUL_REPLICAS = 3;
export const ROUTER_REPLICAS = 2;
export const CONTROL_PLANE_REPLICAS = 2;
export const ENVOY_REPLICAS = 2;
export const CONSUL_SERVICE = 'consul-server';
/**
 * The commands bin/bundle.mjs runs from a bundle it builds at their first start, and where (under
 * the image's root). Written here because topology/ may not import bin/, which imports it;
 * infra/deploy/manifests.test.ts checks every command of bin/bundle.mjs has this volume.
 */
const BUNDLED_COMMANDS = ['router', 'control-plane', 'cell', 'envoy'];
export const BUNDLE_DIR = 'node_modules/.cache/cellsim-bundle';

export const ports = portPlan();
export const CELL_PORT = ports.cellBase;
export const ROUTER_PORT = ports.routers[0]!;
export const ENVOY_PORT = ports.envoys[0]!.listen;
export const ENVOY_ADMIN_PORT = ports.envoys[0]!.admin;
export const CONSUL_URL = `http://${CONSUL_SERVICE}:${ports.consul.http}`;

/** Where a pod finds its tokens: the admin tokens as `cellctl up`'s `<data>/tokens/<kind>`, Consul's in a directory of their own. */
export const ETC = '/etc/cellsim';
export const ADMIN_TOKENS_DIR = dirname(tokenPath(ETC, 'operator'));
const CONSUL_TOKENS_DIR = `${ETC}/consul`;
export const ADMIN_SECRET = 'cellsim-admin-tokens';
export const CONSUL_SECRET = 'cellsim-consul-tokens';
export const CONSUL_ACL_SECRET = 'consul-acl';
/** The admin tokens a cluster uses: no supervisor runs there, so not its token. */
export const ADMIN_TOKENS: TokenKind[] = ['operator', 'read', 'cell-admin', 'router-admin'];
/** The Consul token files: the management token, then one per kind (the order `cellctl seed secrets` makes them in). */
export const CONSUL_TOKEN_FILES: ConsulTokenFile[] = ['management', ...CONSUL_TOKEN_KINDS];
/** The Secret key of a Consul token file: its file name, `consul-<kind>`. */
export const consulKey = (kind: ConsulTokenFile) => basename(consulTokenPath('.', kind));
/** Where `cellctl seed secrets --dir infra/deploy/k8s/secrets` writes the token files, relative to the kustomization. */
export const SECRET_FILES = dirname(tokenPath('secrets', 'operator'));

export const PART_OF = { 'app.kubernetes.io/part-of': NS };
export const component = (name: string) => ({ 'app.kubernetes.io/component': name });
export const appName = (name: string) => ({ 'app.kubernetes.io/name': name });
export const meta = (name: string, labels?: Record<string, string>) => ({ name, namespace: NS, ...(labels ? { labels } : {}) });
export const podIp = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };
export const podName = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
export const consulEnv = (kind: ConsulTokenKind) => [
  { name: 'CELLSIM_CONSUL', value: CONSUL_URL },
  { name: 'CELLSIM_CONSUL_TOKEN_FILE', value: `${CONSUL_TOKENS_DIR}/${consulKey(kind)}` },
];
export const podSecurity = (uid: number) => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: FS_GROUP,
  fsGroup: FS_GROUP,
  seccompProfile: { type: 'RuntimeDefault' },
});
export const containerSecurity = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
export const emptyDir = (name: string) => ({ name, emptyDir: {} });
export const mount = (name: string, mountPath: string, readOnly?: boolean) => ({ name, mountPath, ...(readOnly ? { readOnly } : {}) });
/** A Secret volume: `keys` only (each at its own name), or every key. */
export const secretVolume = (name: string, secretName: string, keys?: string[]) => ({
  name,
  secret: { secretName, defaultMode: SECRET_MODE, ...(keys ? { items: keys.map((key) => ({ key, path: key })) } : {}) },
});
export const resources = (cpu: string, memory: string, limit: string) => ({ requests: { cpu, memory }, limits: { memory: limit } });
export const httpProbes = (port: string, readinessPeriod = 2) => ({
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
export function cellsimPod(o: {
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
export const STATE: Vol = { mount: mount('state', '/state'), volume: emptyDir('state') };
/** The Consul token of `kind`, alone, at CONSUL_TOKENS_DIR/consul-<kind>. */
export const consulToken = (kind: ConsulTokenKind): Vol => ({
  mount: mount('consul-token', CONSUL_TOKENS_DIR, true),
  volume: secretVolume('consul-token', CONSUL_SECRET, [consulKey(kind)]),
});

export function pvc(storage: string): object {
  return { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } };
}
