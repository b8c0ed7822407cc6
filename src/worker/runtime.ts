/** Builds a worker's routing state from a config (used at start and on every reload). */
import type { MosndConfig } from '../shared/config/model';
import { RouteTable } from './router';

export function buildRouteTables(config: MosndConfig): Map<string, RouteTable> {
  const tables = new Map<string, RouteTable>();
  for (const r of config.routers) tables.set(r.name, new RouteTable(r));
  return tables;
}
