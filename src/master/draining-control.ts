/**
 * `mosnd status` during an upgrade: the new master owns control.sock and lists the old
 * generation's processes as draining, but only the old master knows what its workers hold
 * (they report to it, not to the new one). So after commit the old master serves Status on a
 * socket of its own in the run dir (`control-<generation>.sock`), and the new master asks it
 * for the figures of those rows (connections, requests, req/s) each time it is asked itself.
 */
import { ControlClient } from '../shared/control-client';
import type { ControlHandlers, ProcessInfo, StatusReply } from '../shared/control-types';
import { MosndError } from '../shared/errors';
import { OLDER_GENERATION_STATUS_TIMEOUT_MS } from '../shared/constants';
import * as fs from 'node:fs';
import { ControlServer, startControlServer } from './control-server';
import { drainingControlSocketPath, isAlive, isZombie } from './rundir';

/** Old generation, from commit until it exits: answers Status, refuses everything else
 *  (those are the serving generation's to do). */
export function serveWhileDraining(runDir: string, generation: number, status: () => Promise<StatusReply>): Promise<ControlServer> {
  const refuse = async (): Promise<never> => {
    throw new MosndError('MOSND_ERR_CONTROL', `generation ${generation} is handing over to the next one; use the serving generation's control socket`);
  };
  const handlers: ControlHandlers = { status, stop: refuse, reload: refuse, upgrade: refuse };
  return startControlServer(drainingControlSocketPath(runDir, generation), handlers);
}

/**
 * New generation, owner of the run dir: removes the old master's socket once that master is
 * gone. It removes its socket itself when it exits; one killed (SIGKILL) leaves it behind.
 */
export function removeStaleDrainingSocket(runDir: string, generation: number, masterPid: number | undefined): void {
  if (masterPid !== undefined && isAlive(masterPid) && !isZombie(masterPid)) return;
  const file = drainingControlSocketPath(runDir, generation);
  try {
    if (fs.lstatSync(file).isSocket()) fs.unlinkSync(file);
  } catch {
    /* none: it cleaned up after itself */
  }
}

/**
 * New generation: the processes of the older `generation` as its master reports them, or []
 * when it does not answer in time (a wedged or exiting master, or an older mosnd that does
 * not serve this socket): the rows then show without figures.
 */
export async function askDrainingMaster(runDir: string, generation: number): Promise<ProcessInfo[]> {
  const client = new ControlClient(drainingControlSocketPath(runDir, generation));
  try {
    const st = await client.status(OLDER_GENERATION_STATUS_TIMEOUT_MS);
    return st.processes.filter((p) => p.generation === generation);
  } catch {
    return [];
  } finally {
    client.close();
  }
}
