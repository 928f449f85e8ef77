/**
 * The one Consul client over HTTPS, against a real Consul 1.16 agent whose HTTP API serves TLS
 * only (infra/consul-agent.ts `consulArgs(…, tls)`), with a certificate of the local CA
 * (shared/pki): every transport reaches it when it trusts the CA (given, or named by
 * CELLSIM_CONSUL_CACERT), none does without, and plain HTTP gets nothing from the port. A
 * rotated leaf is served to new connections after a reload of the agent's configuration, by the
 * same process, with its KV data and registered services kept (docs/tls.md §Rotation without restarts).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireBinary } from '../../infra/binaries.js';
import { consulArgs } from '../../infra/consul-agent.js';
import { consulPorts } from '../../infra/harness/consul.js';
import { startProcess, type ManagedProcess } from '../../infra/process.js';
import { ensureCertificates, rotateCertificates, tlsFiles, topologyLeaves } from '../pki/store.js';
import { ConsulClient, CONSUL_CA_FILE_ENV, consulCaFromEnv, isConsulError } from './client.js';
import { nodeHttpTransport } from './node-http.js';
import { undiciTransport } from './undici.js';
import { httpsGet, servedSerial } from '../../topology/tls-rig.test-helper.js';

describe('the Consul client over HTTPS (real Consul with its HTTP API on TLS only)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cellsim-consul-https-'));
  const dir = join(tmp, 'tls');
  let consul: ManagedProcess;
  let url = '';
  let port = 0;
  let ca = '';

  before(async () => {
    await ensureCertificates(dir, topologyLeaves([]));
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const ports = await consulPorts();
    port = ports.http;
    url = `https://127.0.0.1:${port}`;
    const client = new ConsulClient({ url, ca, token: '' });
    consul = await startProcess({
      name: 'consul-https',
      command: requireBinary('consul'),
      // A dev agent with a state directory, as `cellctl up --tls` runs it (topology/wiring.ts consulDevDir).
      args: consulArgs(ports, undefined, tlsFiles(dir, 'consul'), join(tmp, 'dev-state')),
      ready: { check: async () => (await client.status.leader().catch(() => '')) !== '' },
      readyTimeoutMs: 30_000,
    });
  });
  after(async () => {
    await consul?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const roundTrip = async (c: ConsulClient, key: string) => {
    await c.kv.put(`cellsim-test/${key}`, key);
    const got = await c.kv.get(`cellsim-test/${key}`);
    assert.equal(got.value?.value, key);
  };

  it('reaches it with every transport that trusts the CA: default (node:https), node:https, undici', async () => {
    await roundTrip(new ConsulClient({ url, ca, token: '' }), 'default');
    await roundTrip(new ConsulClient({ url, token: '', transport: nodeHttpTransport({ ca }) }), 'node-https');
    await roundTrip(new ConsulClient({ url, token: '', transport: undiciTransport({ ca }) }), 'undici');
  });

  it('takes the CA from CELLSIM_CONSUL_CACERT, as Consul clients take CONSUL_CACERT; a bad file is consul_tls', () => {
    const file = join(dir, 'ca.crt');
    assert.equal(consulCaFromEnv({ [CONSUL_CA_FILE_ENV]: file })?.trim(), ca.trim(), 'the PEM, one certificate a line');
    assert.equal(consulCaFromEnv({}), undefined);
    const notPem = join(tmp, 'not-a-cert');
    writeFileSync(notPem, 'hello');
    for (const bad of [join(tmp, 'missing.crt'), notPem])
      assert.throws(
        () => consulCaFromEnv({ [CONSUL_CA_FILE_ENV]: bad }),
        (e) => isConsulError(e, 'consul_tls'),
        bad,
      );
  });

  it('the default transport of an https URL reads the CA from the environment', async () => {
    const before = process.env[CONSUL_CA_FILE_ENV];
    process.env[CONSUL_CA_FILE_ENV] = join(dir, 'ca.crt');
    try {
      await roundTrip(new ConsulClient({ url, token: '' }), 'from-env');
    } finally {
      if (before === undefined) delete process.env[CONSUL_CA_FILE_ENV];
      else process.env[CONSUL_CA_FILE_ENV] = before;
    }
  });

  it('does not reach it without the CA (consul_unavailable: an untrusted certificate), nor over plain HTTP', async () => {
    for (const [what, c] of [
      ['default transport, system store', new ConsulClient({ url, token: '', transport: nodeHttpTransport() })],
      ['undici, system store', new ConsulClient({ url, token: '', transport: undiciTransport() })],
    ] as const) {
      await assert.rejects(
        c.kv.get('cellsim-test/default'),
        (e) => isConsulError(e, 'consul_unavailable') && /certificate/i.test(e.message),
        what,
      );
    }
    const plain = new ConsulClient({ url: `http://127.0.0.1:${port}`, token: '' });
    await assert.rejects(plain.kv.get('cellsim-test/default'), (e) => isConsulError(e), 'plain HTTP to the HTTPS port');
  });

  it('serves a rotated leaf to new connections after a reload, same process, KV and services kept', async () => {
    const c = new ConsulClient({ url, ca, token: '' });
    const served = () => servedSerial(port, ca);
    const fileSerial = () => new X509Certificate(readFileSync(join(dir, 'consul.crt'))).serialNumber.toLowerCase().replace(/^0+/, '');
    await c.agent.register({ ID: 'reload-probe', Name: 'reload-probe', Port: 1, Check: { TTL: '1m', Status: 'passing' } });
    await c.kv.put('cellsim-test/reload', 'kept');
    const pid = consul.pid;
    const old = await served();
    assert.equal(old, fileSerial());
    await rotateCertificates(dir, topologyLeaves([]), ['consul']);
    const rotated = fileSerial();
    assert.notEqual(rotated, old);
    assert.equal(await served(), old, 'read at start: the old leaf until a reload');
    await c.agent.reload();
    assert.equal(await served(), rotated, 'a new connection after the reload gets the new leaf');
    assert.equal(consul.pid, pid);
    assert.equal(consul.running, true);
    assert.equal((await c.kv.get('cellsim-test/reload')).value?.value, 'kept');
    assert.ok((await c.agent.services())['reload-probe'], 'the service registered through the API is kept');
    const passing = await c.health.service('reload-probe', { passing: true });
    assert.equal(passing.value.length, 1, 'and still passing');
  });

  it("reloads its ca_file too: a bundle of a second CA, once reloaded, admits that CA's clients", async () => {
    // An agent that asks HTTPS clients for a certificate of its ca_file, with files of its own.
    const own = join(tmp, 'ca-file');
    const other = join(tmp, 'other-ca');
    await ensureCertificates(own, topologyLeaves([]));
    await ensureCertificates(other, topologyLeaves([]));
    const ownCa = readFileSync(join(own, 'ca.crt'), 'utf8');
    const ports = await consulPorts();
    const leader = `https://127.0.0.1:${ports.http}/v1/status/leader`;
    const agent = await startProcess({
      name: 'consul-https-ca-file',
      command: requireBinary('consul'),
      args: [...consulArgs(ports, undefined, tlsFiles(own, 'consul')), '-hcl=tls { https { verify_incoming = true } }'],
      ready: { check: async () => (await httpsGet(leader, ownCa, tlsFiles(own, 'router'))).status === 200 },
      readyTimeoutMs: 30_000,
    });
    try {
      const stranger = tlsFiles(other, 'router');
      assert.equal((await httpsGet(leader, ownCa, stranger)).status, 0, 'a client of the other CA is refused');
      writeFileSync(join(own, 'ca.crt'), `${readFileSync(join(other, 'ca.crt'), 'utf8')}\n${ownCa}\n`);
      assert.equal((await httpsGet(leader, ownCa, stranger)).status, 0, 'ca_file is read at start');
      const reload = await new Promise<number>((resolve, reject) => {
        const mine = tlsFiles(own, 'router');
        const req = request(`https://127.0.0.1:${ports.http}/v1/agent/reload`, {
          method: 'PUT',
          ca: ownCa,
          cert: readFileSync(mine.cert),
          key: readFileSync(mine.key),
        });
        req.on('response', (res) => resolve(res.resume().statusCode ?? 0));
        req.on('error', reject);
        req.end();
      });
      assert.equal(reload, 200);
      assert.equal((await httpsGet(leader, ownCa, stranger)).status, 200, 'after the reload, the bundle admits the other CA');
      assert.equal((await httpsGet(leader, ownCa, tlsFiles(own, 'router'))).status, 200, 'and still the first');
    } finally {
      await agent.stop();
    }
  });
});
