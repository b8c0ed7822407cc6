/**
 * How the master brings xDS up: required only when the config has `dynamic_resources`
 * (gRPC and the Envoy types cost memory and start-up time), started before the workers, and
 * waited for until every subscribed type has answered or timed out (initial_fetch_timeout),
 * so that the workers start — or a new generation commits — with the dynamic config.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MosndConfig } from '../../shared/config/model';
import type { Logger } from '../../shared/logger';
import type { XdsManager } from './manager';
import { withNodeOverrides } from '../../shared/config/xds-bootstrap';

/** Environment variables of --service-node / --service-cluster: a new generation started by an
 *  upgrade inherits them with the environment. */
export const SERVICE_NODE_ENV = 'MOSND_XDS_SERVICE_NODE';
export const SERVICE_CLUSTER_ENV = 'MOSND_XDS_SERVICE_CLUSTER';

/** The node id and cluster from the command line, which win over the file's `node`. */
export function nodeOverrides(config: MosndConfig): MosndConfig {
  return withNodeOverrides(config, { id: process.env[SERVICE_NODE_ENV], cluster: process.env[SERVICE_CLUSTER_ENV] });
}

/** The config file as parsed JSON: the document the dynamic resources are added to. */
export function readDocument(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>;
}

/** Where an upgrading generation leaves its xDS resources for `generation` (mode 0600). */
export function snapshotPath(runDir: string, generation: number): string {
  return path.join(runDir, `xds-snapshot-${generation}.json`);
}

/** Old generation, before spawning the next: its accepted resources, for the next to start from. */
export function writeSnapshot(xds: XdsManager, runDir: string, generation: number): void {
  const file = snapshotPath(runDir, generation);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(xds.snapshot()), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

export async function startXds(
  config: MosndConfig,
  file: string,
  log: Logger,
  onConnected: (c: boolean) => void,
  snapshot?: string,
): Promise<{ xds: XdsManager; config: MosndConfig }> {
  const { XdsManager: Manager } = require('./manager') as typeof import('./manager');
  const withNode = nodeOverrides(config);
  const xds = new Manager(withNode, readDocument(file), log, onConnected);
  if (snapshot && fs.existsSync(snapshot)) {
    try {
      await xds.seed(JSON.parse(fs.readFileSync(snapshot, 'utf8')));
    } finally {
      fs.rmSync(snapshot, { force: true });
    }
  }
  xds.start();
  await xds.readyPromise;
  return { xds, config: xds.current() };
}
