/**
 * The master's TLS series: when each certificate a listener serves expires (Envoy's
 * `days_until_first_cert_expiring`, as a timestamp so an alert can say "within 14 days":
 * `mosnd_tls_cert_expiry_timestamp_seconds - time() < 14 * 86400`). From the serving config,
 * so a reload that rotates a certificate moves the series at once.
 */
import type { MosndConfig } from '../../shared/config/model';
import type { MetricJson } from '../../shared/ipc';

export function tlsCertExpiry(config: MosndConfig | undefined): MetricJson {
  return {
    name: 'mosnd_tls_cert_expiry_timestamp_seconds',
    help: 'When each certificate served by a TLS listener expires (seconds since the epoch), by listener and the certificate\'s first name',
    type: 'gauge',
    aggregator: 'sum',
    values: (config?.listeners ?? []).flatMap((l) =>
      (l.tls?.certs ?? []).map((c) => ({ labels: { listener: l.name, name: c.names[0] ?? '' }, value: c.notAfter })),
    ),
  };
}
