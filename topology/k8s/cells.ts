/** The seed Job (seed.yaml) and one StatefulSet and headless Service per cell (cells.yaml), cell-0 the small canary (topology/config.ts cellIds). */
import { dirname } from 'node:path';
import { consulTokenPath } from '../../shared/consul-acl.js';
import { tokenPath } from '../../shared/tokens.js';
import { cellIds, TOPOLOGY_DEFAULTS } from '../config.js';
import {
  ADMIN_SECRET,
  ADMIN_TOKENS_DIR,
  CELL_PORT,
  cellsimPod,
  component,
  CONSUL_REPLICAS,
  CONSUL_SECRET,
  CONSUL_URL,
  consulEnv,
  consulToken,
  ETC,
  FS_GROUP,
  httpProbes,
  type K8sPlan,
  type ManifestDoc,
  type ManifestFile,
  meta,
  mount,
  PART_OF,
  podIp,
  pvc,
  resources,
  SECRET_MODE,
  secretVolume,
} from './model.js';

export function seedFile(plan: K8sPlan): ManifestFile {
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

export function cellsFile(plan: K8sPlan): ManifestFile {
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
