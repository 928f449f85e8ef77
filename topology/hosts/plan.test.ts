import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addCellHost, cellHost, dropCellHost, edgeHost, hostIp, hostPlan, leafAddresses, serverHosts } from './plan.js';

describe('hostPlan', () => {
  const plan = hostPlan('3fa2', 77, 4);

  it('has 3 Consul servers, the control plane, 2 edges, a host per cell and a client, in that order', () => {
    assert.deepEqual(
      plan.hosts.map((h) => h.name),
      ['consul-1', 'consul-2', 'consul-3', 'cp', 'edge-1', 'edge-2', 'cell-0', 'cell-1', 'cell-2', 'cell-3', 'client'],
    );
    assert.deepEqual(
      serverHosts(plan).map((h) => h.ip),
      ['10.77.77.11', '10.77.77.12', '10.77.77.13'],
    );
    assert.equal(plan.hosts.filter((h) => h.consul === 'none').length, 1, 'only the client host runs no agent');
    assert.equal(cellHost(plan, 'cell-2').ip, '10.77.77.102');
    assert.equal(edgeHost(plan, 3).name, 'edge-2', 'routers and Envoys round robin over the edges');
    assert.equal(hostIp(plan, 'cp'), '10.77.77.20');
  });

  it('names every namespace and link cs-<run>-…, within the kernel 15-character limit for links, all distinct', () => {
    const names = [plan.bridge, ...plan.hosts.flatMap((h) => [h.ns, h.veth])];
    assert.ok(names.every((n) => n.startsWith('cs-3fa2-')));
    assert.ok([plan.bridge, ...plan.hosts.map((h) => h.veth)].every((n) => n.length <= 15));
    assert.equal(new Set(names).size, names.length);
    assert.equal(new Set(plan.hosts.map((h) => h.ip)).size, plan.hosts.length);
    assert.equal(plan.gateway, '10.77.77.1');
  });

  it('refuses a run id that is not 4 hex digits, a bad subnet and more cells than a /24 holds', () => {
    assert.throws(() => hostPlan('xyz', 1, 2), /4 hex/);
    assert.throws(() => hostPlan('abcd', 256, 2), /subnet/);
    assert.throws(() => hostPlan('abcd', 1, 101), /100 cells/);
    assert.throws(() => hostIp(plan, 'cell-9'), /no host 'cell-9'/);
  });

  it('gives each certificate the addresses of the hosts its component runs on', () => {
    const small = hostPlan('3fa2', 77, 2);
    assert.deepEqual(leafAddresses(small), {
      router: ['10.77.77.31', '10.77.77.32'],
      envoy: ['10.77.77.31', '10.77.77.32'],
      'control-plane': ['10.77.77.20'],
      // Every agent's host (servers and client agents), not the client host, which runs none.
      consul: ['10.77.77.11', '10.77.77.12', '10.77.77.13', '10.77.77.20', '10.77.77.31', '10.77.77.32', '10.77.77.100', '10.77.77.101'],
      supervisor: ['10.77.77.1'],
      'cell-0': ['10.77.77.100'],
      'cell-1': ['10.77.77.101'],
    });
  });

  it('adds the host of a cell added while the run is up: lowest free cell address, next link number, before the client host; a retire drops it', () => {
    const p = hostPlan('3fa2', 77, 2);
    const h = addCellHost(p, 'cell-7');
    assert.deepEqual(h, { name: 'cell-7', role: 'cell', ip: '10.77.77.102', ns: 'cs-3fa2-cell-7', veth: 'cs-3fa2-9', consul: 'client' });
    assert.deepEqual(
      p.hosts.slice(-3).map((x) => x.name),
      ['cell-1', 'cell-7', 'client'],
    );
    assert.equal(addCellHost(p, 'cell-7'), h, 'a host the plan has is answered, not made twice');
    assert.deepEqual(leafAddresses(p)['cell-7'], ['10.77.77.102']);
    assert.ok(leafAddresses(p).consul!.includes('10.77.77.102'), 'the Consul certificate names the new agent host');
    // cell-0's address freed by its retire is the next one taken; link numbers are never reused.
    assert.equal(dropCellHost(p, 'cell-0')?.ip, '10.77.77.100');
    assert.deepEqual([addCellHost(p, 'cell-8').ip, hostIp(p, 'cell-8')], ['10.77.77.100', '10.77.77.100']);
    assert.equal(cellHost(p, 'cell-8').veth, 'cs-3fa2-10');
    assert.equal(dropCellHost(p, 'cp'), undefined, 'only cell hosts are dropped');
    assert.throws(() => addCellHost(p, 'edge-1'), /'edge-1' names its edge host, not a cell's/);
    const names = [p.bridge, ...p.hosts.flatMap((x) => [x.ns, x.veth])];
    assert.equal(new Set(names).size, names.length, 'all names distinct');
  });
});
