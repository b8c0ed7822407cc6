/**
 * Handing connections back after an upgrade rolled back.
 *
 * If the new master dies after commit, the old master resumes: its workers accept again and
 * each opens a return socket, `return-<gen>-<id>.sock` in the run dir. The new workers are
 * orphans then, holding the connections already moved to them. Draining those (closing each
 * at a request boundary, cutting busy TCP pairs at the deadline) loses them from the clients'
 * point of view, and serving them on with nobody supervising leaves processes that `mosnd stop`
 * and `mosnd status` do not know. So an orphan stops accepting, keeps serving while it looks
 * for a return socket, and moves its connections back over the same protocol they came by
 * (handover.ts, conn-sender/conn-receiver): the resumed generation serves them and the orphan
 * exits. Found no return socket within ORPHAN_RETURN_WAIT_MS (the old master is gone too, or
 * this worker was not part of an upgrade), it drains as before.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FdChannel } from '../transfer/fdpass';
import { CONN_CHANNEL_CONNECT_TIMEOUT_MS, ORPHAN_RETURN_POLL_MS, ORPHAN_RETURN_WAIT_MS } from '../transfer/constants';
import type { WorkerContext } from './context';
import type { WorkerListeners } from './listeners';
import { handOver, HandoverResult } from './handover';

/** Where a resumed worker of `generation` takes connections back. */
export function returnSocketPath(runDir: string, generation: number, workerId: number): string {
  return path.join(runDir, `return-${generation}-${workerId}.sock`);
}

/** The return sockets of `generation` now in the run dir, this worker's share first. */
function returnCandidates(runDir: string, generation: number, workerId: number): string[] {
  const re = new RegExp(`^return-${generation}-(\\d+)\\.sock$`);
  let names: string[];
  try {
    names = fs.readdirSync(runDir).filter((n) => re.test(n));
  } catch {
    return [];
  }
  names.sort((a, b) => Number(re.exec(a)![1]) - Number(re.exec(b)![1]));
  // Spread the orphans over the resumed workers: new worker j starts at old worker j mod N.
  const start = names.length ? workerId % names.length : 0;
  return [...names.slice(start), ...names.slice(0, start)].map((n) => path.join(runDir, n));
}

/** A channel to a live return socket of `generation`, or null if none answers in time. A
 *  file left by a killed worker refuses (ECONNREFUSED) and is skipped. */
async function findReturnChannel(runDir: string, generation: number, workerId: number): Promise<{ ch: FdChannel; path: string } | null> {
  const deadline = Date.now() + ORPHAN_RETURN_WAIT_MS;
  while (Date.now() < deadline) {
    for (const p of returnCandidates(runDir, generation, workerId)) {
      try {
        return { ch: await FdChannel.connect(p, CONN_CHANNEL_CONNECT_TIMEOUT_MS), path: p };
      } catch {
        /* stale or not listening yet: next one */
      }
    }
    await new Promise((r) => setTimeout(r, ORPHAN_RETURN_POLL_MS));
  }
  return null;
}

/**
 * An orphaned new worker: stop accepting, then move every connection back to the resumed old
 * generation. Resolves with the totals, or null when nobody takes them back (the caller then
 * drains them). Connections are served here meanwhile.
 */
export async function handBack(
  ctx: WorkerContext,
  listeners: WorkerListeners,
  opts: {
    runDir: string;
    oldGeneration: number;
    workerId: number;
    deadlineMs: number;
    /** Closes this worker's own transfer socket. Called only once a return socket answers:
     *  the old generation has resumed then and sends nothing more, while until then a batch it
     *  is sending still lands here (closing earlier would break that channel, and the old
     *  worker would drain what it holds). */
    stopReceiving: () => void;
  },
): Promise<HandoverResult | null> {
  listeners.closeAll(); // the resumed generation accepts on the same sockets
  const found = await findReturnChannel(opts.runDir, opts.oldGeneration, opts.workerId);
  opts.stopReceiving();
  if (found === null) return null;
  ctx.log.warn(
    { target: found.path, connections: ctx.connections.size },
    'master is gone and the old generation resumed; handing the connections back to it',
  );
  return handOver(ctx, listeners, found.ch, opts.deadlineMs, () => true);
}
