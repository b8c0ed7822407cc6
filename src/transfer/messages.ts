/**
 * The messages of the handover protocol (see README.md in this directory). Each SEQPACKET
 * message is one UTF-8 JSON object with a `t` field, plus the fds it carries. Every
 * received message is checked against this table before use: a peer that sends anything
 * else gets MOSND_ERR_TRANSFER_PROTOCOL, never a crash.
 */
import { MosndError } from '../shared/errors';

export const PROTOCOL_VERSION = 1;

/** A listening socket handed from the old master to the new one (its fd rides along, same index). */
export interface ListenerDesc {
  name: string;
  host: string;
  port: number;
}

/** A process of the old generation, listed so the new master shows it while it drains. */
export interface OldProcessDesc {
  role: 'master' | 'worker';
  /** 0 for the master, 1..N for workers. */
  id: number;
  pid: number;
}

/** A worker of the new generation and the socket it receives connections on. */
export interface NewWorkerDesc {
  id: number;
  pid: number;
  transferPath: string;
}

/** A live connection moved from an old worker to a new one. */
export type ConnDesc =
  | {
      kind: 'http';
      id: number;
      /** Listener (by name) the connection was accepted on. */
      listener: string;
      /** Index of its fd in the message's fd list. */
      fd: number;
      /** Bytes already read from the client and not yet processed (base64), or ''. */
      data: string;
    }
  | {
      kind: 'tcp';
      id: number;
      listener: string;
      cluster: string;
      /** The upstream host address (for statistics on the new side). */
      host: string;
      clientFd: number;
      upstreamFd: number;
      /** Bytes read from the client not yet written upstream, and the reverse (base64). */
      toUpstream: string;
      toClient: string;
    };

/** Old/new master channel (upgrade.sock). */
export type MasterChannelMessage =
  | { t: 'hello'; v: number; pid: number; version: string }
  | {
      t: 'listeners';
      generation: number;
      /** Proxy listeners, then the admin and metrics sockets under reserved names (`__admin`, `__metrics`). */
      listeners: ListenerDesc[];
      /** The old generation's metric totals (counters, histograms): deflated JSON in
       *  prom-client's getMetricsAsJSON() shape, base64; '' for none. */
      counters: string;
      processes?: OldProcessDesc[];
      /** TLS session ticket keys (base64): the new generation resumes the old one's sessions. */
      tlsTicketKeys?: string;
    }
  | { t: 'ready'; workers: NewWorkerDesc[] }
  | { t: 'abort'; reason: string; details: string[] }
  | { t: 'commit' }
  | { t: 'serving'; pid: number }
  | { t: 'done'; moved: number; drained: number; closed: number; counters?: string };

/** Old worker → new worker channel. */
export type ConnChannelMessage =
  | { t: 'conns'; items: ConnDesc[] }
  | { t: 'ack'; accepted: number[]; refused: number[] }
  /** Old → new, after the ack: these connections are let go here; the new side may read them now. */
  | { t: 'released'; ids: number[] };

const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every(isInt);

function checkListener(v: unknown): boolean {
  const l = v as ListenerDesc;
  return typeof l === 'object' && l !== null && isStr(l.name) && isStr(l.host) && isInt(l.port) && l.port <= 65535;
}

function checkProcess(v: unknown): boolean {
  const p = v as OldProcessDesc;
  return typeof p === 'object' && p !== null && (p.role === 'master' || p.role === 'worker') && isInt(p.id) && isInt(p.pid);
}

function checkWorker(v: unknown): boolean {
  const w = v as NewWorkerDesc;
  return typeof w === 'object' && w !== null && isInt(w.id) && isInt(w.pid) && isStr(w.transferPath);
}

function checkConn(v: unknown, fdCount: number): boolean {
  const c = v as Record<string, unknown>;
  if (typeof c !== 'object' || c === null || !isInt(c.id) || !isStr(c.listener)) return false;
  if (c.kind === 'http') return isInt(c.fd) && c.fd < fdCount && isStr(c.data);
  if (c.kind === 'tcp') {
    return (
      isStr(c.cluster) &&
      isStr(c.host) &&
      isInt(c.clientFd) &&
      isInt(c.upstreamFd) &&
      c.clientFd < fdCount &&
      c.upstreamFd < fdCount &&
      c.clientFd !== c.upstreamFd &&
      isStr(c.toUpstream) &&
      isStr(c.toClient)
    );
  }
  return false;
}

function parse(data: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    throw protocolError('a message that is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !isStr((v as { t?: unknown }).t)) {
    throw protocolError('a message without a type');
  }
  return v as Record<string, unknown>;
}

function protocolError(what: string): MosndError {
  return new MosndError('MOSND_ERR_TRANSFER_PROTOCOL', `the handover peer sent ${what}`);
}

export function decodeMasterMessage(data: Buffer, fdCount: number): MasterChannelMessage {
  const m = parse(data);
  const ok = ((): boolean => {
    switch (m.t) {
      case 'hello':
        return isInt(m.v) && isInt(m.pid) && isStr(m.version);
      case 'listeners':
        return (
          isInt(m.generation) &&
          Array.isArray(m.listeners) &&
          m.listeners.length === fdCount &&
          m.listeners.every(checkListener) &&
          // A string; an object is what versions before metrics carrying sent (no totals).
          (isStr(m.counters) || (typeof m.counters === 'object' && m.counters !== null && !Array.isArray(m.counters))) &&
          (m.processes === undefined || (Array.isArray(m.processes) && m.processes.every(checkProcess))) &&
          (m.tlsTicketKeys === undefined || isStr(m.tlsTicketKeys))
        );
      case 'ready':
        return Array.isArray(m.workers) && m.workers.every(checkWorker);
      case 'abort':
        return isStr(m.reason) && Array.isArray(m.details) && m.details.every(isStr);
      case 'commit':
        return true;
      case 'serving':
        return isInt(m.pid);
      case 'done':
        return isInt(m.moved) && isInt(m.drained) && isInt(m.closed) && (m.counters === undefined || isStr(m.counters));
      default:
        return false;
    }
  })();
  if (!ok || (m.t !== 'listeners' && fdCount > 0)) throw protocolError(`a malformed "${String(m.t)}" message`);
  return m as unknown as MasterChannelMessage;
}

export function decodeConnMessage(data: Buffer, fdCount: number): ConnChannelMessage {
  const m = parse(data);
  if (m.t === 'conns' && Array.isArray(m.items) && m.items.every((c) => checkConn(c, fdCount))) {
    return m as unknown as ConnChannelMessage;
  }
  if (m.t === 'ack' && fdCount === 0 && isIntArray(m.accepted) && isIntArray(m.refused)) {
    return m as unknown as ConnChannelMessage;
  }
  if (m.t === 'released' && fdCount === 0 && isIntArray(m.ids)) return m as unknown as ConnChannelMessage;
  throw protocolError(`a malformed "${String(m.t)}" message`);
}

export function encode(m: MasterChannelMessage | ConnChannelMessage): Buffer {
  return Buffer.from(JSON.stringify(m), 'utf8');
}
