/**
 * Mutual TLS from Envoy to the cells (docs/security.md §TLS): the transport socket of every cell
 * cluster, which names its secrets instead of carrying them — Envoy's own certificate
 * ({@link UPSTREAM_CERT_SECRET}) and the CA that a cell's certificate must chain to
 * ({@link CA_SECRET}), whose certificate must also name the cluster's own cell by its URI. The secrets are
 * static ones of Envoy's bootstrap ({@link bootstrapSecrets}, read from files).
 */
import type { TlsMaterial } from '../../../shared/pki/identity.js';
import type { TlsFiles } from '../../../shared/pki/names.js';
import { makeResource, type Resource } from './resource.js';
import { SECRET } from './type-urls.js';
import { identityUri } from '../../../shared/pki/names.js';

/** The secret holding Envoy's client certificate and key. */
export const UPSTREAM_CERT_SECRET = 'cellsim-upstream-cert';
/** The secret holding the CA certificate that verifies cells. */
export const CA_SECRET = 'cellsim-ca';

const UPSTREAM_TLS_CONTEXT = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' };

/**
 * The `transport_socket` of cell `cell`'s cluster with mutual TLS; with `sds`, its secrets come by
 * SDS over the ADS stream ({@link secretResources}), else from Envoy's bootstrap. The cell's
 * certificate must name that very cell (shared/pki/identity.ts `cellServerCheck`, the router's check).
 */
export function upstreamTlsSocket(cell: string, sds = false): Record<string, unknown> {
  return tlsSocketTo(identityUri('cell', cell), sds);
}

/**
 * The `transport_socket` of the hold cluster when the control planes serve their HTTP API in
 * HTTPS (`cellctl control-plane --api-tls`): the same secrets, and the server must be
 * `spiffe://cellsim/control-plane`.
 */
export function holdTlsSocket(sds = false): Record<string, unknown> {
  return tlsSocketTo(identityUri('control-plane'), sds);
}

/** An upstream TLS socket presenting Envoy's certificate and accepting only a server named `uri`. */
function tlsSocketTo(uri: string, sds: boolean): Record<string, unknown> {
  const source = sds ? { sds_config: ADS_SOURCE } : {};
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `type.googleapis.com/${UPSTREAM_TLS_CONTEXT}`,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: UPSTREAM_CERT_SECRET, ...source }],
        combined_validation_context: {
          // Peers are reached by address: their identity is the URI, not a host name.
          default_validation_context: {
            match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: uri } }],
          },
          validation_context_sds_secret_config: { name: CA_SECRET, ...source },
        },
      },
    },
  };
}

/** The `transport_socket` of the edge listener with `--edge-tls`: HTTPS with Envoy's certificate, by SDS. */
export function edgeTlsSocket(): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: { tls_certificate_sds_secret_configs: [{ name: UPSTREAM_CERT_SECRET, sds_config: ADS_SOURCE }] },
    },
  };
}

/** The SDS resources of the two secrets, with the PEM texts inline. */
export function secretResources(tls: TlsMaterial): Resource[] {
  return [
    makeResource(SECRET, UPSTREAM_CERT_SECRET, {
      name: UPSTREAM_CERT_SECRET,
      tls_certificate: { certificate_chain: { inline_string: tls.cert }, private_key: { inline_string: tls.key } },
    }),
    makeResource(SECRET, CA_SECRET, { name: CA_SECRET, validation_context: { trusted_ca: { inline_string: tls.ca } } }),
  ];
}

/** The bootstrap's static secrets the transport socket names, read by Envoy from `files`. */
export function bootstrapSecrets(files: TlsFiles): Record<string, unknown>[] {
  return [
    { name: UPSTREAM_CERT_SECRET, tls_certificate: { certificate_chain: { filename: files.cert }, private_key: { filename: files.key } } },
    { name: CA_SECRET, validation_context: { trusted_ca: { filename: files.ca } } },
  ];
}
