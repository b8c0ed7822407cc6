/**
 * MOSN's TLSConfig (pkg/config/v2/tls.go), as a listener's filter chain and a cluster carry it
 * (`tls_context`, and a listener's `tls_context_set` for several certificates chosen by SNI).
 * What the values mean, and the checks that read the certificate files, are in tls.ts.
 */
import { boolean, object, string } from './schema';

export const tlsContextSchema = object(
  {
    status: boolean().default(false),
    /** A listener's name for SNI matching beside the certificate's own names; a cluster's SNI. */
    server_name: string().optional(),
    /** Each of these is a file path, or the PEM text itself when it starts with "-----BEGIN". */
    ca_cert: string().optional(),
    cert_chain: string().optional(),
    private_key: string().optional(),
    verify_client: boolean().optional(),
    require_client_cert: boolean().optional(),
    /** Upstream: do not verify the server's certificate (named as the opt-out it is). */
    insecure_skip: boolean().optional(),
    cipher_suites: string().optional(),
    ecdh_curves: string().optional(),
    min_version: string().optional(),
    max_version: string().optional(),
    alpn: string().optional(),
  },
  {
    notImplemented: ['type', 'ticket', 'extend_verify', 'callbacks', 'pin'],
    unsupported: {
      fall_back: 'a failed TLS set-up would fall back to plaintext',
      sds_source: 'the certificates would come from an SDS server',
    },
  },
);
