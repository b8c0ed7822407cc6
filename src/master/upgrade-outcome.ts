/**
 * What `mosnd upgrade` says when its stream breaks. The old master serves the Upgrade call; if
 * it dies after commit (kill -9, OOM), the call ends with "Connection dropped" although the
 * new generation took over and the upgrade did what was asked. The CLI then looks at the run
 * dir instead of guessing: the old master gone, the pidfile naming a live master that answers
 * Status with the new generation. Only that is reported as success; anything else stays the
 * error it was.
 */
import { ControlClient } from '../shared/control-client';
import { controlSocketPath, isAlive, isZombie, pidfilePath, readPid } from './rundir';

/** The old master stops within milliseconds once its connection dropped; a second is plenty. */
const OLD_MASTER_GONE_WAIT_MS = 1_000;
const POLL_MS = 20;

/**
 * After the Upgrade call failed: if the old master (`oldMaster`) died after the upgrade reached
 * commit (`committedGeneration`), and a master of that generation serves the run dir, the
 * sentence to print; else null.
 */
export async function explainLostUpgradeStream(
  runDir: string,
  oldMaster: number | undefined,
  committedGeneration: number | undefined,
): Promise<string | null> {
  if (oldMaster === undefined || committedGeneration === undefined) return null;
  const gone = (): boolean => !isAlive(oldMaster) || isZombie(oldMaster);
  const deadline = Date.now() + OLD_MASTER_GONE_WAIT_MS;
  while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
  if (!gone()) return null;
  const serving = readPid(pidfilePath(runDir));
  if (serving === undefined || serving === oldMaster || !isAlive(serving)) return null;
  const client = new ControlClient(controlSocketPath(runDir));
  try {
    const st = await client.status();
    if (st.generation !== committedGeneration || st.masterPid !== serving) return null;
    return `the old master (pid ${oldMaster}) exited after commit; generation ${st.generation} serves (pid ${serving})`;
  } catch {
    return null;
  } finally {
    client.close();
  }
}
