/**
 * Envoy's own TLS files by file-based SDS (docs/tls.md §xDS over TLS): `cellctl envoy` writes two
 * `Secret` files beside the bootstrap, one naming its certificate and key, one naming the CA
 * file, and the bootstrap's TLS contexts (the xDS connection, the admin TLS listener) name them
 * by `path_config_source`. Envoy watches the files such a secret names and loads them again when
 * they change, keeping the last good pair while the key and certificate do not match: Envoy's
 * "certificate rotation for xDS gRPC connection",
 * https://www.envoyproxy.io/docs/envoy/v1.40.0/configuration/security/secret. A static
 * `tls_certificates` or `trusted_ca` is read once at start, so neither a rotated leaf nor a new
 * CA (docs/tls.md §Rotating the CA) would reach it.
 */
import type { TlsFiles } from '../../shared/pki/names.js';

/** The name of Envoy's own certificate's secret, in {@link xdsClientSecretFile}. */
export const XDS_CLIENT_SECRET = 'cellsim-xds-client';

/** The name of the CA's secret, in {@link xdsCaSecretFile}. */
export const XDS_CA_SECRET = 'cellsim-xds-ca';

/** Where `cellctl envoy` wrote the two secret files. */
export interface FileSecretPaths {
  /** {@link xdsClientSecretFile}'s file. */
  clientSecretPath: string;
  /** {@link xdsCaSecretFile}'s file. */
  caSecretPath: string;
}

const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** The file-based SDS answer naming Envoy's certificate and key files. */
export function xdsClientSecretFile(files: TlsFiles): Record<string, unknown> {
  return {
    resources: [
      {
        '@type': SECRET_TYPE,
        name: XDS_CLIENT_SECRET,
        tls_certificate: { certificate_chain: { filename: files.cert }, private_key: { filename: files.key } },
      },
    ],
  };
}

/** The file-based SDS answer naming the CA file (one CA, or two in a CA rotation: each trusted). */
export function xdsCaSecretFile(files: TlsFiles): Record<string, unknown> {
  return { resources: [{ '@type': SECRET_TYPE, name: XDS_CA_SECRET, validation_context: { trusted_ca: { filename: files.ca } } }] };
}

/**
 * The `common_tls_context` parts of a context with Envoy's certificate and the CA from the secret
 * files `paths`, accepting a peer whose certificate names one of `uris`.
 */
export function fileSdsContext(paths: FileSecretPaths, uris: readonly string[]): Record<string, unknown> {
  const source = (path: string) => ({ path_config_source: { path }, resource_api_version: 'V3' });
  return {
    tls_certificate_sds_secret_configs: [{ name: XDS_CLIENT_SECRET, sds_config: source(paths.clientSecretPath) }],
    combined_validation_context: {
      // Peers are reached by address: their identity is the URI, not a host name.
      default_validation_context: { match_typed_subject_alt_names: uris.map((exact) => ({ san_type: 'URI', matcher: { exact } })) },
      validation_context_sds_secret_config: { name: XDS_CA_SECRET, sds_config: source(paths.caSecretPath) },
    },
  };
}
