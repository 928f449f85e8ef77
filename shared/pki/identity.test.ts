import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { isCellsimError } from '../errors.js';
import { cellServerCheck, identityUris, peerRole, readTlsFiles, roleOfUri, tlsFilesOf } from './identity.js';

const cert = (san: string) => ({ subjectaltname: san }) as PeerCertificate;
const socket = (authorized: boolean, san: string) => ({ authorized, getPeerCertificate: () => cert(san) }) as unknown as TLSSocket;

describe('shared/pki identity', () => {
  it('reads the URIs of a certificate and the role each names in the cellsim trust domain', () => {
    assert.deepEqual(identityUris(cert('DNS:localhost, URI:spiffe://cellsim/router, IP Address:127.0.0.1')), ['spiffe://cellsim/router']);
    assert.deepEqual(identityUris(undefined), []);
    assert.equal(roleOfUri('spiffe://cellsim/cell/cell-3'), 'cell');
    assert.equal(roleOfUri('spiffe://cellsim/envoy'), 'envoy');
    assert.equal(roleOfUri('spiffe://other/router'), undefined, 'another trust domain');
    assert.equal(roleOfUri('spiffe://cellsim/admin'), undefined, 'no such role');
    assert.equal(roleOfUri('spiffe://cellsimx/router'), undefined);
  });

  it("a peer's role only when its certificate was verified", () => {
    assert.equal(peerRole(socket(true, 'URI:spiffe://cellsim/router')), 'router');
    assert.equal(peerRole(socket(false, 'URI:spiffe://cellsim/router')), undefined, 'not verified against the CA');
    assert.equal(peerRole(socket(true, 'DNS:localhost')), undefined);
  });

  it('accepts a server certificate only when it names a cell', () => {
    assert.equal(cellServerCheck('cell-0')('127.0.0.1', cert('URI:spiffe://cellsim/cell/cell-0')), undefined);
    assert.ok(cellServerCheck('cell-0')('127.0.0.1', cert('URI:spiffe://cellsim/router')) instanceof Error);
    assert.ok(cellServerCheck('cell-1')('127.0.0.1', cert('URI:spiffe://cellsim/cell/cell-0')) instanceof Error, 'another cell');
    assert.ok(cellServerCheck('cell-1')('127.0.0.1', cert('URI:spiffe://cellsim/cell/cell-10')) instanceof Error, 'a longer ID');
  });

  it('takes --tls-cert, --tls-key and --tls-ca all together or not at all', () => {
    assert.equal(tlsFilesOf({}), undefined);
    assert.deepEqual(tlsFilesOf({ tlsCert: 'c', tlsKey: 'k', tlsCa: 'a' }), { cert: 'c', key: 'k', ca: 'a' });
    assert.throws(() => tlsFilesOf({ tlsCert: 'c' }), /go together/);
    assert.throws(
      () => tlsFilesOf({ tlsCert: 'c' }),
      (err) => isCellsimError(err, 'invalid_tls_config'),
    );
  });

  it('names the TLS file it cannot read, with the stable code', () => {
    assert.throws(
      () => readTlsFiles({ ca: '/nonexistent/ca.pem', cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem' }),
      (err) => isCellsimError(err, 'invalid_tls_config') && /CA certificate \/nonexistent\/ca\.pem: ENOENT/.test(err.message),
    );
  });
});
