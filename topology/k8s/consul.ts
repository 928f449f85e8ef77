/** Consul's 3 servers in one StatefulSet, their Services and disruption budget (consul.yaml), on the pinned image (infra/versions.env). */
import { pinnedVersions } from '../../infra/binaries.js';
import { CONSUL_ACL_FILE } from '../seed-cli.js';
import {
  component,
  CONSUL_ACL_SECRET,
  CONSUL_REPLICAS,
  CONSUL_SERVICE,
  CONSUL_UID,
  CONSUL_URL,
  containerSecurity,
  emptyDir,
  FS_GROUP,
  type ManifestFile,
  meta,
  mount,
  NS,
  PART_OF,
  podIp,
  podName,
  podSecurity,
  ports,
  pvc,
  resources,
  secretVolume,
} from './model.js';

export function consulFile(): ManifestFile {
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
