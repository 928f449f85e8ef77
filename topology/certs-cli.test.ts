/**
 * `cellctl certs rotate` as a real process (docs/contracts.md §CLI): new leaves with the same
 * names and CA; with `--json` one document on stdout; bad input a clear error that writes nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../shared/pki/store.js';
import { pemCertificates } from '../shared/pki/identity.js';
import { trustBoth } from '../shared/pki/ca-rotation.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'cellsim-certs-'));
after(() => rmSync(root, { recursive: true, force: true }));

function cellctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CELLCTL, ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Every file of `dir` with its content and mtime: what a refused command must leave as it was. */
function snapshot(dir: string): string {
  return readdirSync(dir)
    .sort()
    .map((f) => `${f}:${statSync(join(dir, f)).mtimeMs}:${readFileSync(join(dir, f), 'utf8')}`)
    .join('\n');
}

describe('cellctl certs rotate', () => {
  const data = join(root, 'data');
  const dir = join(data, 'tls');
  const leaves = topologyLeaves(['cell-0', 'cell-1'], { 'cell-1': ['10.77.0.5'] });

  it('rotates the named leaves with the same names under the same CA, and says so in one JSON document', async () => {
    await ensureCertificates(dir, leaves);
    const cert = (name: string) => new X509Certificate(readFileSync(tlsFiles(dir, name).cert));
    const before = { ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), router: cert('router'), cell1: cert('cell-1'), envoy: cert('envoy') };
    const run = await cellctl(['certs', 'rotate', '--data', data, '--component', 'router', '--component', 'cell-1', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as {
      dir: string;
      rotated: { name: string; previousSerial: string; serial: string; notAfter: string }[];
    };
    assert.equal(out.dir, dir);
    assert.deepEqual(
      out.rotated.map((r) => r.name),
      ['router', 'cell-1'],
    );
    const after = { router: cert('router'), cell1: cert('cell-1') };
    assert.equal(out.rotated[0]!.previousSerial.toLowerCase(), before.router.serialNumber.toLowerCase());
    assert.equal(out.rotated[0]!.serial.toLowerCase(), after.router.serialNumber.toLowerCase());
    assert.notEqual(after.router.serialNumber, before.router.serialNumber);
    assert.equal(after.cell1.subjectAltName, before.cell1.subjectAltName, 'same names (URI, DNS, the host address)');
    assert.match(after.cell1.subjectAltName ?? '', /10\.77\.0\.5/);
    assert.ok(after.cell1.verify(new X509Certificate(before.ca).publicKey), 'signed by the same CA');
    assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), before.ca, 'the CA is kept');
    assert.equal(cert('envoy').serialNumber, before.envoy.serialNumber, 'a leaf not named is kept');
    assert.equal(statSync(tlsFiles(dir, 'router').key).mode & 0o777, 0o600);

    const all = await cellctl(['certs', 'rotate', '--data', data, '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^rotated cell-0: serial \S+ -> \S+, valid until /m);
    assert.equal(all.stdout.match(/^rotated /gm)?.length, 7, all.stdout);
  });

  it('refuses an unknown component, a data directory without a CA and a missing choice, writing nothing', async () => {
    const was = snapshot(dir);
    const unknown = await cellctl(['certs', 'rotate', '--data', data, '--component', 'router', '--component', 'cell-9', '--json']);
    assert.equal(unknown.code, 1);
    const err = JSON.parse(unknown.stdout) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'invalid_request');
    assert.match(
      err.error.message,
      /no certificate named cell-9 .*known: cell-0, cell-1, consul, control-plane, envoy, router, supervisor/,
    );
    assert.match(unknown.stderr, /^cellctl certs rotate: invalid_request: no certificate named cell-9/m);
    assert.equal(snapshot(dir), was, 'router was not rotated either');

    const empty = join(root, 'empty');
    const noCa = await cellctl(['certs', 'rotate', '--data', empty, '--all', '--json']);
    assert.equal(noCa.code, 1);
    assert.equal((JSON.parse(noCa.stdout) as { error: { code: string } }).error.code, 'invalid_tls_config');
    assert.throws(() => statSync(empty), /ENOENT/, 'nothing written');

    const neither = await cellctl(['certs', 'rotate', '--data', data]);
    assert.equal(neither.code, 1);
    assert.match(neither.stderr, /give --component <name> \(one or more\), --all or --ca/);
    assert.equal(neither.stdout, '');
    assert.equal(snapshot(dir), was);
  });

  it('--ca: a new CA in three steps, one line each on stderr and one JSON document; a half-done rotation is refused naming --resume, which finishes it', async () => {
    const ca = join(root, 'ca');
    const caDir = join(ca, 'tls');
    await ensureCertificates(caDir, leaves);
    const oldCa = new X509Certificate(readFileSync(join(caDir, 'ca.crt')));
    const oldRouter = new X509Certificate(readFileSync(tlsFiles(caDir, 'router').cert));
    const run = await cellctl(['certs', 'rotate', '--ca', '--data', ca, '--settle', '100ms', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.stderr
        .trim()
        .split('\n')
        .map((l) => /step (\d) of 3/.exec(l)?.[1]),
      ['1', '2', '3'],
      run.stderr,
    );
    const out = JSON.parse(run.stdout) as {
      ca: { previousSerial: string; serial: string };
      resumed: boolean;
      rotated: { name: string; previousSerial: string; serial: string }[];
    };
    const caPems = pemCertificates(readFileSync(join(caDir, 'ca.crt'), 'utf8'));
    assert.equal(caPems.length, 1, 'ca.crt holds the new CA alone');
    const newCa = new X509Certificate(caPems[0]!);
    assert.equal(out.ca.previousSerial, oldCa.serialNumber.toLowerCase());
    assert.equal(out.ca.serial, newCa.serialNumber.toLowerCase());
    assert.equal(out.resumed, false);
    assert.deepEqual(out.rotated.map((r) => r.name).sort(), leaves.map((l) => l.name).sort());
    const router = new X509Certificate(readFileSync(tlsFiles(caDir, 'router').cert));
    assert.equal(out.rotated.find((r) => r.name === 'router')!.previousSerial, oldRouter.serialNumber.toLowerCase());
    assert.ok(router.checkIssued(newCa) && router.verify(newCa.publicKey), 'the router leaf is of the new CA');
    assert.equal(router.subjectAltName, oldRouter.subjectAltName, 'with the same names');

    // Stopped after step 1: refused, nothing written; --resume finishes it.
    await trustBoth(caDir);
    const was = snapshot(caDir);
    const again = await cellctl(['certs', 'rotate', '--ca', '--data', ca, '--json']);
    assert.equal(again.code, 1);
    const err = JSON.parse(again.stdout) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'invalid_tls_config');
    assert.match(err.error.message, /left half-done .* cellctl certs rotate --ca --resume --data /);
    assert.equal(snapshot(caDir), was);
    const withComponent = await cellctl(['certs', 'rotate', '--ca', '--component', 'router', '--data', ca, '--json']);
    assert.equal((JSON.parse(withComponent.stdout) as { error: { code: string } }).error.code, 'invalid_request');
    assert.equal(snapshot(caDir), was);
    const resumed = await cellctl(['certs', 'rotate', '--ca', '--resume', '--data', ca, '--settle', '100ms', '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((JSON.parse(resumed.stdout) as { resumed: boolean }).resumed, true);
    assert.equal(pemCertificates(readFileSync(join(caDir, 'ca.crt'), 'utf8')).length, 1);
    const noneLeft = await cellctl(['certs', 'rotate', '--ca', '--resume', '--data', ca, '--json']);
    assert.equal((JSON.parse(noneLeft.stdout) as { error: { code: string } }).error.code, 'invalid_request');
  });

  it('has --help', async () => {
    const help = await cellctl(['certs', 'rotate', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--component <name>/);
    assert.match(help.stdout, /--all/);
    assert.match(help.stdout, /--ca/);
    assert.match(help.stdout, /--settle <duration>/);
    assert.match(help.stdout, /--resume/);
  });
});
