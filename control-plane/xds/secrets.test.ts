import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../shared/logger.js';
import { issueLeaf } from '../../shared/pki/ca.js';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../../shared/pki/store.js';
import { decodeAny } from './resources/proto.js';
import type { Resource } from './resources/resource.js';
import { CA_SECRET, UPSTREAM_CERT_SECRET } from './resources/upstream-tls.js';
import { SecretSource } from './secrets.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const certOf = (m: ReadonlyMap<string, Resource>) =>
  (decodeAny(m.get(UPSTREAM_CERT_SECRET)!.any).tls_certificate as { certificate_chain: { inline_string: string } }).certificate_chain
    .inline_string;

describe('SDS secret source', () => {
  it('serves the files as two secrets, keeps them while a rotated pair is half written, pushes once it matches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-sds-unit-'));
    dirs.push(dir);
    const leaves = topologyLeaves([]);
    await ensureCertificates(dir, leaves);
    const files = tlsFiles(dir, 'envoy');
    const pushed: ReadonlyMap<string, Resource>[] = [];
    const source = new SecretSource(files, createLogger('test'), (s) => pushed.push(s), 20);
    const first = source.start();
    try {
      assert.deepEqual([...first.keys()].sort(), [CA_SECRET, UPSTREAM_CERT_SECRET].sort());
      assert.equal(certOf(first), readFileSync(files.cert, 'utf8'));
      const ca = { cert: readFileSync(files.ca, 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') };
      const next = await issueLeaf(
        ca,
        leaves.find((l) => l.name === 'envoy')!,
      );
      writeFileSync(files.key, next.key); // the key first: the pair does not match yet
      await wait(120);
      assert.equal(pushed.length, 0, 'a half-written pair is not pushed');
      writeFileSync(files.cert, next.cert);
      await wait(120);
      assert.equal(pushed.length, 1, 'the matching pair is pushed once');
      assert.equal(certOf(pushed[0]!), next.cert);
      await wait(80);
      assert.equal(pushed.length, 1, 'unchanged files push nothing more');
    } finally {
      source.stop();
    }
  });
});
