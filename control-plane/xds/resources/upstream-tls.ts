/**
 * Mutual TLS from Envoy to the cells (docs/security.md §TLS): the transport socket of every cell
 * cluster, which names its secrets instead of carrying them — Envoy's own certificate
 * ({@link UPSTREAM_CERT_SECRET}) and the CA that a cell's certificate must chain to
 * ({@link CA_SECRET}), whose certificate must also name a cell by its URI. The secrets are
 * static ones of Envoy's bootstrap ({@link bootstrapSecrets}, read from files).
 */
import type { TlsFiles } from '../../../shared/pki/names.js';
import { TRUST_DOMAIN } from '../../../shared/pki/names.js';

/** The secret holding Envoy's client certificate and key. */
export const UPSTREAM_CERT_SECRET = 'cellsim-upstream-cert';
/** The secret holding the CA certificate that verifies cells. */
export const CA_SECRET = 'cellsim-ca';

const UPSTREAM_TLS_CONTEXT = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** The `transport_socket` of a cell cluster with mutual TLS. */
export function upstreamTlsSocket(): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `type.googleapis.com/${UPSTREAM_TLS_CONTEXT}`,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: UPSTREAM_CERT_SECRET }],
        combined_validation_context: {
          // Cells are reached by address: their identity is the URI, not a host name.
          default_validation_context: {
            match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: `${TRUST_DOMAIN}/cell/` } }],
          },
          validation_context_sds_secret_config: { name: CA_SECRET },
        },
      },
    },
  };
}

/** The bootstrap's static secrets the transport socket names, read by Envoy from `files`. */
export function bootstrapSecrets(files: TlsFiles): Record<string, unknown>[] {
  return [
    { name: UPSTREAM_CERT_SECRET, tls_certificate: { certificate_chain: { filename: files.cert }, private_key: { filename: files.key } } },
    { name: CA_SECRET, validation_context: { trusted_ca: { filename: files.ca } } },
  ];
}
