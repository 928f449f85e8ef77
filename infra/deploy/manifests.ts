/**
 * The Kubernetes manifests as data, and the cross-checks no schema can make: a Service or a
 * NetworkPolicy that selects no pod, a Secret that nothing creates, two pods that claim one ID.
 * Each check answers the problems it finds (empty: none), so a test asserts on the list and a
 * sabotaged manifest shows what is wrong. Hand-written: kubeconform and friends check one object
 * against its schema; these relations between objects are this project's own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** A label selector: a Service's plain map, or matchLabels / matchExpressions. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** The parts of a container the checks read. */
export interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: Ref; configMapKeyRef?: Ref } }[];
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
}
interface Ref {
  name: string;
  key: string;
}
/** A probe: where it points. */
export interface Probe {
  httpGet?: { path: string; port: string | number; host?: string };
  tcpSocket?: { port: string | number; host?: string };
  exec?: unknown;
}
/** The parts of a volume the checks read. */
export interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
}
/** The parts of a pod spec the checks read. */
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    fsGroup?: number;
    seccompProfile?: { type: string };
  };
}

/** A NetworkPolicy peer: pods of this namespace, or (with namespaceSelector) of others. */
export interface NetworkPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
}
/** A NetworkPolicy port. */
export interface NetworkPort {
  port: number | string;
  protocol?: string;
}

/** One object of a manifest. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    serviceName?: string;
    selector?: LabelSelector | Record<string, string>;
    template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
    clusterIP?: string;
    ports?: { name?: string; port: number; targetPort?: string | number; protocol?: string }[];
    podSelector?: LabelSelector;
    ingress?: { from?: NetworkPeer[]; ports?: NetworkPort[] }[];
    egress?: { to?: NetworkPeer[]; ports?: NetworkPort[] }[];
    policyTypes?: string[];
  };
  /** The file it came from. */
  file: string;
}

/** What the kustomization adds: its resources and the Secrets and ConfigMaps its generators make (name → keys). */
export interface Kustomization {
  namespace?: string;
  resources: string[];
  generated: { Secret: Map<string, Set<string>>; ConfigMap: Map<string, Set<string>> };
}

/** Reads `<dir>/kustomization.yaml`. */
export function loadKustomization(dir: string): Kustomization {
  type Gen = { name: string; files?: string[]; literals?: string[] };
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as {
    namespace?: string;
    resources?: string[];
    secretGenerator?: Gen[];
    configMapGenerator?: Gen[];
  };
  const keys = (g: Gen) =>
    new Set([...(g.files ?? []), ...(g.literals ?? [])].map((f) => (f.includes('=') ? f.split('=')[0]! : f.split('/').pop()!)));
  return {
    namespace: k.namespace,
    resources: k.resources ?? [],
    generated: {
      Secret: new Map((k.secretGenerator ?? []).map((g) => [g.name, keys(g)])),
      ConfigMap: new Map((k.configMapGenerator ?? []).map((g) => [g.name, keys(g)])),
    },
  };
}

/** Every object of the kustomization's resources, in order. */
export function loadManifests(dir: string, k: Kustomization): K8sObject[] {
  return k.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).flatMap((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      const o = d.toJS() as Omit<K8sObject, 'file'> | null;
      return o ? [{ ...o, file }] : [];
    }),
  );
}

const POD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet']);

/** The objects that run pods (their template). */
export function workloads(objs: K8sObject[]): (K8sObject & { spec: { template: { spec: PodSpec } } })[] {
  return objs.filter((o): o is K8sObject & { spec: { template: { spec: PodSpec } } } => POD_KINDS.has(o.kind) && !!o.spec?.template);
}

/** Whether `labels` satisfy a selector (a Service's map is matchLabels). An empty selector selects everything. */
export function selects(sel: LabelSelector | Record<string, string> | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return false;
  const s: LabelSelector = 'matchLabels' in sel || 'matchExpressions' in sel ? sel : { matchLabels: sel as Record<string, string> };
  const plain = Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const exprs = (s.matchExpressions ?? []).every((e) => {
    const has = e.key in labels;
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    return e.operator === 'In' ? inValues : !inValues;
  });
  return plain && exprs;
}

const podLabels = (w: K8sObject) => w.spec?.template?.metadata?.labels ?? {};
const containersOf = (p: PodSpec) => [...(p.initContainers ?? []), ...p.containers];
const nsOf = (o: K8sObject, k: Kustomization) => o.metadata.namespace ?? k.namespace;

/** Services: each selects a pod of its namespace, targets a port those pods declare; a StatefulSet's serviceName is a headless Service. */
export function serviceProblems(objs: K8sObject[], k: Kustomization): string[] {
  const out: string[] = [];
  const pods = workloads(objs);
  for (const s of objs.filter((o) => o.kind === 'Service')) {
    const targets = pods.filter((w) => nsOf(w, k) === nsOf(s, k) && selects(s.spec?.selector, podLabels(w)));
    if (targets.length === 0) {
      out.push(`Service ${s.metadata.name}: its selector ${JSON.stringify(s.spec?.selector)} matches no pod`);
      continue;
    }
    const ports = targets.flatMap((w) => w.spec.template.spec.containers.flatMap((c) => c.ports ?? []));
    for (const p of s.spec?.ports ?? []) {
      const t = p.targetPort ?? p.port;
      const proto = p.protocol ?? 'TCP';
      if (!ports.some((c) => (typeof t === 'number' ? c.containerPort === t : c.name === t) && (c.protocol ?? 'TCP') === proto))
        out.push(`Service ${s.metadata.name}: targetPort ${t}/${proto} is not a port of the pods it selects`);
    }
  }
  for (const w of pods.filter((x) => x.kind === 'StatefulSet')) {
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === w.spec.serviceName && nsOf(o, k) === nsOf(w, k));
    if (!svc || svc.spec?.clusterIP !== 'None')
      out.push(`StatefulSet ${w.metadata.name}: serviceName ${w.spec.serviceName} is no headless Service`);
    else if (!selects(svc.spec?.selector, podLabels(w)))
      out.push(`StatefulSet ${w.metadata.name}: its Service ${svc.metadata.name} does not select its pods`);
  }
  return out;
}

/** NetworkPolicies: each selects existing pods, and every peer selector of its rules selects existing pods; numeric ports are ports of the selected pods. */
export function networkPolicyProblems(objs: K8sObject[], k: Kustomization): string[] {
  const out: string[] = [];
  for (const np of objs.filter((o) => o.kind === 'NetworkPolicy')) {
    const pods = workloads(objs).filter((w) => nsOf(w, k) === nsOf(np, k));
    const selected = pods.filter((w) => selects(np.spec?.podSelector, podLabels(w)));
    if (selected.length === 0) out.push(`NetworkPolicy ${np.metadata.name}: podSelector selects no pod`);
    // Ingress ports are the selected pods' own; egress ports those of the peers (in this namespace).
    const rules = [
      ...(np.spec?.ingress ?? []).map((r) => ({ peers: r.from ?? [], ports: r.ports, to: selected })),
      ...(np.spec?.egress ?? []).map((r) => ({
        peers: r.to ?? [],
        ports: r.ports,
        to: (r.to ?? []).some((p) => p.namespaceSelector)
          ? undefined
          : pods.filter((w) => (r.to ?? []).some((p) => selects(p.podSelector, podLabels(w)))),
      })),
    ];
    for (const rule of rules) {
      for (const peer of rule.peers)
        if (peer.podSelector && !peer.namespaceSelector && !pods.some((w) => selects(peer.podSelector, podLabels(w))))
          out.push(`NetworkPolicy ${np.metadata.name}: peer ${JSON.stringify(peer.podSelector)} selects no pod`);
      if (!rule.to) continue; // pods of another namespace (DNS): their ports are not in these manifests
      const declared = rule.to.flatMap((w) => w.spec.template.spec.containers.flatMap((c) => c.ports ?? []));
      for (const p of rule.ports ?? [])
        if (
          !declared.some(
            (c) =>
              (typeof p.port === 'number' ? c.containerPort === p.port : c.name === p.port) &&
              (c.protocol ?? 'TCP') === (p.protocol ?? 'TCP'),
          )
        )
          out.push(`NetworkPolicy ${np.metadata.name}: port ${p.port}/${p.protocol ?? 'TCP'} is no port of the pods it selects`);
    }
  }
  return out;
}

/**
 * Secrets and ConfigMaps: every one a pod uses (volumes, env, envFrom) is created by a manifest
 * or a kustomize generator, with the keys it names; every file path a container is given
 * (`--…-file <path>`, `-config-file=<path>`, `*_FILE` variables) lies under one of its mounts.
 */
export function referenceProblems(objs: K8sObject[], k: Kustomization): string[] {
  const out: string[] = [];
  const keysOf = (kind: 'Secret' | 'ConfigMap', name: string): Set<string> | undefined => {
    const o: (K8sObject & { data?: object; stringData?: object }) | undefined = objs.find(
      (x) => x.kind === kind && x.metadata.name === name,
    );
    return o ? new Set([...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})]) : k.generated[kind].get(name);
  };
  const need = (where: string, kind: 'Secret' | 'ConfigMap', name: string, keys: string[]) => {
    const have = keysOf(kind, name);
    if (!have) return void out.push(`${where}: ${kind} ${name} is created by no manifest or generator`);
    for (const key of keys.filter((x) => !have.has(x))) out.push(`${where}: ${kind} ${name} has no key ${key}`);
  };
  for (const w of workloads(objs)) {
    const spec = w.spec.template.spec;
    const where = `${w.kind} ${w.metadata.name}`;
    for (const v of spec.volumes ?? []) {
      if (v.secret)
        need(
          where,
          'Secret',
          v.secret.secretName,
          (v.secret.items ?? []).map((i) => i.key),
        );
      if (v.configMap)
        need(
          where,
          'ConfigMap',
          v.configMap.name,
          (v.configMap.items ?? []).map((i) => i.key),
        );
    }
    for (const c of containersOf(spec)) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.secretKeyRef) need(where, 'Secret', e.valueFrom.secretKeyRef.name, [e.valueFrom.secretKeyRef.key]);
        if (e.valueFrom?.configMapKeyRef) need(where, 'ConfigMap', e.valueFrom.configMapKeyRef.name, [e.valueFrom.configMapKeyRef.key]);
      }
      for (const e of c.envFrom ?? []) {
        if (e.secretRef) need(where, 'Secret', e.secretRef.name, []);
        if (e.configMapRef) need(where, 'ConfigMap', e.configMapRef.name, []);
      }
      for (const path of filePaths(c)) {
        const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
        if (!mount) {
          out.push(`${where}: ${c.name} is given ${path}, which is under none of its mounts`);
          continue;
        }
        const vol = (spec.volumes ?? []).find((v) => v.name === mount.name);
        const rel = path.slice(mount.mountPath.length + 1);
        const src = vol?.secret ? { kind: 'Secret' as const, name: vol.secret.secretName, items: vol.secret.items } : undefined;
        if (!vol) out.push(`${where}: ${c.name} mounts ${mount.name}, which is no volume of the pod`);
        else if (src) {
          const key = src.items ? src.items.find((i) => i.path === rel)?.key : rel;
          if (key === undefined) out.push(`${where}: ${c.name} is given ${path}, which its Secret volume ${vol.name} does not project`);
          else need(`${where} (${path})`, src.kind, src.name, [key]);
        }
      }
    }
  }
  return out;
}

/** The file paths a container is given: values of `--…-file` flags, `-config-file=` and `*_FILE` variables. */
export function filePaths(c: Container): string[] {
  const args = c.args ?? [];
  const fromFlags = args.flatMap((a, i) => (/^--[\w-]+-file$/.test(a) && args[i + 1] ? [args[i + 1]!] : []));
  const fromEq = args.flatMap((a) => (/^-{1,2}config-file=/.test(a) ? [a.slice(a.indexOf('=') + 1)] : []));
  const fromEnv = (c.env ?? []).filter((e) => e.name.endsWith('_FILE') && e.value).map((e) => e.value!);
  return [...fromFlags, ...fromEq, ...fromEnv];
}

/**
 * No two pods can claim one ID: a container's ID (`--id <v>`, `-node=<v>`) is its pod's name
 * through the downward API (`$(POD_NAME)` with POD_NAME from metadata.name), or a literal in a
 * StatefulSet of one replica (at most one pod of an ordinal runs) that no other container claims.
 * `idFlag(container)` says whether its command takes `--id`; such a container must pass one.
 */
export function idProblems(objs: K8sObject[], takesId: (c: Container) => boolean): string[] {
  const out: string[] = [];
  const literals = new Map<string, string>();
  for (const w of workloads(objs)) {
    for (const c of w.spec.template.spec.containers) {
      const args = c.args ?? [];
      const i = args.indexOf('--id');
      const node = args.find((a) => a.startsWith('-node='));
      const id = i >= 0 ? args[i + 1] : node?.slice('-node='.length);
      const where = `${w.kind} ${w.metadata.name} (${c.name})`;
      if (id === undefined) {
        if (takesId(c)) out.push(`${where}: no --id, so every replica takes the command's default ID`);
        continue;
      }
      if (id === '$(POD_NAME)') {
        const src = c.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath;
        if (src !== 'metadata.name') out.push(`${where}: POD_NAME is not the pod's metadata.name (downward API)`);
        continue;
      }
      if (id.includes('$(')) out.push(`${where}: ID ${id} is not the pod's name`);
      else if (w.kind !== 'StatefulSet' || (w.spec.replicas ?? 1) !== 1)
        out.push(`${where}: the literal ID ${id} is shared by every pod of a ${w.kind} (replicas ${w.spec.replicas ?? 1})`);
      const other = literals.get(id);
      if (other) out.push(`${where}: ID ${id} is also ${other}'s`);
      literals.set(id, where);
    }
  }
  return out;
}

/** Probes: each reaches the pod's own address (no `host`) on a port its container declares by name. */
export function probeProblems(objs: K8sObject[]): string[] {
  const out: string[] = [];
  for (const w of workloads(objs)) {
    for (const c of w.spec.template.spec.containers) {
      const names = new Set((c.ports ?? []).map((p) => p.name));
      for (const [kind, p] of Object.entries({ readiness: c.readinessProbe, liveness: c.livenessProbe, startup: c.startupProbe })) {
        const target = p?.httpGet ?? p?.tcpSocket;
        if (!p) continue;
        const where = `${w.kind} ${w.metadata.name} (${c.name}) ${kind} probe`;
        if (!target) out.push(`${where}: not an HTTP or TCP check of the pod's address`);
        else if (target.host !== undefined) out.push(`${where}: host ${target.host}, not the pod's address`);
        else if (typeof target.port !== 'string' || !names.has(target.port)) out.push(`${where}: port ${target.port} is no named port`);
      }
    }
  }
  return out;
}

/** The policy types of `np`: as written, else Ingress, plus Egress when it has egress rules (the API's default). */
function policyTypes(np: K8sObject): string[] {
  return np.spec?.policyTypes ?? ['Ingress', ...(np.spec?.egress ? ['Egress'] : [])];
}

/**
 * Whether the NetworkPolicies let a pod labelled `from` reach pods of workload `to` on TCP `port`,
 * both in the namespace of `to`: the destination's ingress (yes when no Ingress policy selects
 * it, else when a rule of one that does admits that peer and port) and the source's egress (the
 * same, with Egress policies selecting the source).
 */
export function admits(objs: K8sObject[], k: Kustomization, from: Record<string, string>, to: K8sObject, port: number): boolean {
  const labels = to.spec?.template?.metadata?.labels ?? {};
  const ns = nsOf(to, k);
  const policies = (type: string, pod: Record<string, string>) =>
    objs.filter(
      (o) => o.kind === 'NetworkPolicy' && nsOf(o, k) === ns && policyTypes(o).includes(type) && selects(o.spec?.podSelector, pod),
    );
  const onPort = (ports: NetworkPort[] | undefined) =>
    ports === undefined || ports.some((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP');
  const peer = (peers: NetworkPeer[] | undefined, pod: Record<string, string>) =>
    peers === undefined || peers.some((p) => p.podSelector !== undefined && !p.namespaceSelector && selects(p.podSelector, pod));
  const ingress = policies('Ingress', labels);
  const inOk = ingress.length === 0 || ingress.some((np) => (np.spec?.ingress ?? []).some((r) => peer(r.from, from) && onPort(r.ports)));
  const egress = policies('Egress', from);
  const outOk = egress.length === 0 || egress.some((np) => (np.spec?.egress ?? []).some((r) => peer(r.to, labels) && onPort(r.ports)));
  return inOk && outOk;
}
