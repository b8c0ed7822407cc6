/**
 * The container keeper. As PID 1 of a container (or with MOSND_KEEPER=1), a master that has
 * handed over to a new generation must not exit: the container would end with it. It stays
 * as a small keeper instead, with no workers and no sockets:
 * - it forwards TERM/INT/QUIT/HUP/USR1/USR2 to the serving master (the pidfile's pid), so
 *   `docker stop`, `docker kill -s HUP` and upgrades by signal keep working;
 * - it reaps the masters of later generations, which the kernel re-parents to PID 1 and
 *   libuv (which only waits for the children it spawned) would leave as zombies;
 * - it exits when no master serves any more (after `mosnd stop` or a crash), with 0 if the
 *   pidfile was removed (a clean stop) and 1 otherwise.
 */
import type { Logger } from '../shared/logger';
import { native } from '../transfer/fdpass';
import { isAlive, isZombie, readPid } from './rundir';
import { KEEPER_POLL_MS } from '../shared/constants';

export { KEEPER_POLL_MS };

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

export function keeperWanted(): boolean {
  return process.pid === 1 || process.env.MOSND_KEEPER === '1';
}


/**
 * Runs until no master serves. `spawned` are pids libuv spawned for us (reaped by libuv,
 * never by us).
 */
export function runKeeper(pidfile: string, spawned: ReadonlySet<number>, log: Logger): Promise<number> {
  for (const sig of FORWARDED) process.removeAllListeners(sig);
  const seen = new Set<number>();
  const serving = (): number | undefined => {
    const pid = readPid(pidfile);
    if (pid !== undefined && pid !== process.pid) seen.add(pid);
    return pid;
  };
  for (const sig of FORWARDED) {
    process.on(sig, () => {
      const pid = serving();
      if (pid === undefined || pid === process.pid) return;
      try {
        process.kill(pid, sig);
      } catch {
        /* gone: the poll notices */
      }
    });
  }
  log.info({ pidfile }, 'staying as the keeper of this container: signals go to the serving master');
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const pid = serving();
      for (const p of [...seen]) {
        if (spawned.has(p)) continue;
        try {
          if (native().reap(p) !== 0) seen.delete(p); // reaped, or not ours to reap
        } catch {
          seen.delete(p);
        }
      }
      const alive = pid !== undefined && pid !== process.pid && isAlive(pid) && !isZombie(pid);
      if (!alive) {
        clearInterval(timer);
        const clean = pid === undefined;
        log.info({ clean }, 'no master serves any more; the keeper exits');
        resolve(clean ? 0 : 1);
      }
    }, KEEPER_POLL_MS);
  });
}
