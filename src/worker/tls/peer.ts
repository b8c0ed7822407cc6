/**
 * What a TLS connection tells the proxy about its client, worked out once when its handshake
 * completes and kept on the socket (a symbol), so both codecs find it: HTTP/1.1
 * (http/connection.ts) and HTTP/2 (h2/session.ts, through the session's socket).
 *
 * A client certificate that verified against the listener's `ca_cert` is described in
 * Envoy's `x-forwarded-client-cert` format (XFCC: `Hash=<sha256 of the DER>;Subject="…";
 * URI=…;DNS=…`), set on each request by mosnd: routes can match it (`headers`) and upstreams
 * read it. Whatever XFCC a client sent itself on a TLS listener is removed first, so a client
 * cannot claim a certificate it did not present (Envoy's SANITIZE_SET).
 */
import type * as net from 'node:net';
import type * as tls from 'node:tls';

export const XFCC = 'x-forwarded-client-cert';

export interface TlsPeer {
  /** The XFCC value for a verified client certificate; null without one. */
  readonly xfcc: string | null;
  /** The client certificate's subject (one line, "CN=a,OU=b"); '' without one (access log). */
  readonly subject: string;
}

const kPeer = Symbol('mosnd.tlsPeer');

export function tlsPeerOf(socket: net.Socket | null | undefined): TlsPeer | null {
  return ((socket as unknown as Record<symbol, TlsPeer | undefined>)?.[kPeer] ?? null) as TlsPeer | null;
}

/** XFCC values are quoted where they may hold ',' ';' '=' or '"' (Envoy escapes '"' as \"). */
function quoted(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function describePeer(socket: tls.TLSSocket): TlsPeer {
  let xfcc: string | null = null;
  let subject = '';
  const cert = socket.authorized ? socket.getPeerX509Certificate() : undefined;
  if (cert !== undefined) {
    subject = cert.subject.split('\n').reverse().join(',');
    const parts = [`Hash=${cert.fingerprint256.replace(/:/g, '').toLowerCase()}`, `Subject=${quoted(subject)}`];
    for (const san of (cert.subjectAltName ?? '').split(/,\s*/)) {
      if (san.startsWith('URI:')) parts.push(`URI=${san.slice(4)}`);
      else if (san.startsWith('DNS:')) parts.push(`DNS=${san.slice(4)}`);
    }
    xfcc = parts.join(';');
  }
  const peer: TlsPeer = { xfcc, subject };
  (socket as unknown as Record<symbol, TlsPeer>)[kPeer] = peer;
  return peer;
}

/**
 * Sets XFCC in a flat [name, value, ...] header list: any the client sent removed, ours added.
 * `watch` holds indexes into the list that the caller keeps (x-forwarded-for, x-request-id):
 * they are moved down past each removed pair.
 */
export function setXfcc(headers: string[], peer: TlsPeer | null, watch: number[] = []): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i].length === XFCC.length && headers[i].toLowerCase() === XFCC) {
      headers.splice(i, 2);
      for (let w = 0; w < watch.length; w++) if (watch[w] > i) watch[w] -= 2;
    }
  }
  if (peer !== null && peer.xfcc !== null) headers.push(XFCC, peer.xfcc);
}
