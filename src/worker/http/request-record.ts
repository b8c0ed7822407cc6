/**
 * The figures of one request for the access log and the metrics: the status class counted
 * when a status is chosen, and the finished-request record handed to the observers
 * (ctx.onRequest) when the request ends.
 */
import { performance } from 'node:perf_hooks';
import type { RequestRecord } from '../context';
import type { HttpConnection } from './connection';

/** Envoy-style response flags, for the access log. */
export type ResponseFlag = '' | 'NR' | 'UH' | 'UF' | 'UO' | 'UT' | 'UC' | 'DC' | 'NC' | 'OM' | 'SI';

/** The status sent to the client for the current request, counted by class. */
export function countStatus(c: Pick<HttpConnection, 'status' | 'ctx'>, status: number): void {
  c.status = status;
  const cls = (status / 100) | 0;
  if (cls >= 1 && cls <= 5) c.ctx.counters.responsesByClass[cls]++;
}

export function requestRecord(c: Pick<HttpConnection, 'listenerName' | 'clientIp' | 'status' | 'bytesIn' | 'bytesOut' | 't0' | 'upMs' | 'cluster' | 'upstreamAddress' | 'flag' | 'attempts'>, method: string, path: string, grpcStatus = -1): RequestRecord {
  return {
    listener: c.listenerName,
    clientIp: c.clientIp,
    method,
    path,
    status: c.status,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    durationMs: c.t0 > 0 ? performance.now() - c.t0 : 0,
    upstreamMs: c.upMs,
    cluster: c.cluster?.name ?? '',
    upstreamHost: c.upstreamAddress,
    flag: c.flag,
    attempts: c.attempts,
    grpcStatus,
  };
}
