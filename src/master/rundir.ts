/**
 * The run directory and the pidfile.
 *
 * The run dir is where one running mosnd is found and driven: its pidfile `mosnd.pid` (which
 * is also the lock that makes the dir one master's), the control socket, the handover
 * sockets of an upgrade (MOSN's `uds_dir` holds exactly those) and a daemon's output. It is
 * `--run-dir`, else the config's `uds_dir`, else the default below; every command resolves
 * it the same way (`locateRunDir`), so a mosnd started from a config with `uds_dir` is found
 * by `stop/reload/status/upgrade -c` with that config.
 *
 * The config's `pid` is MOSN's pidfile path, for the tools that read it (a monitoring agent,
 * an init script): the master writes its pid there too and removes it on exit, but never
 * uses it to find or lock anything. A `pid` outside the run dir therefore cannot let two
 * masters share one run dir (the lock would be in two places), and commands need only the
 * run dir to find the pidfile.
 *
 * A live master owns the run dir; a pidfile or socket left by a dead one is stale and is
 * cleaned up, never fatal.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MosndError } from '../shared/errors';
import { loadConfigOrThrow } from '../shared/config/load';

export const PIDFILE_NAME = 'mosnd.pid';
export const CONTROL_SOCKET_NAME = 'control.sock';

/** /run/mosnd as root, else $XDG_RUNTIME_DIR/mosnd, else a per-user dir in the tmp dir. */
export function defaultRunDir(): string {
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/run/mosnd';
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return path.join(xdg, 'mosnd');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return path.join(os.tmpdir(), `mosnd-${uid}`);
}

export function resolveRunDir(option: string | undefined, configUdsDir?: string): string {
  return path.resolve(option ?? configUdsDir ?? defaultRunDir());
}

/**
 * The run dir of the mosnd a command talks to: `--run-dir`, else the `uds_dir` of the config
 * file given with `-c` (as `mosnd start -c` that file resolved it), else the default.
 */
export function locateRunDir(opts: { runDir?: string; config?: string }): string {
  if (opts.runDir !== undefined || opts.config === undefined) return resolveRunDir(opts.runDir);
  return resolveRunDir(undefined, udsDirOfConfigFile(opts.config));
}

/**
 * The `uds_dir` of a config file, read without validating the rest: finding a running
 * master must not depend on its file still being valid (it may have been edited since the
 * start; `reload` reports what is wrong with it). A file that cannot be read or is not JSON
 * fails with the loader's own error (path, line and column).
 */
export function udsDirOfConfigFile(file: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch {
    loadConfigOrThrow(file); // throws MOSND_ERR_CONFIG_READ / _JSON with the details
    return undefined;
  }
  const dir = typeof doc === 'object' && doc !== null ? (doc as { uds_dir?: unknown }).uds_dir : undefined;
  return typeof dir === 'string' && dir !== '' ? dir : undefined;
}

function ownUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** A sentence for a failed write in the run dir; a full disk is named as such. */
function describeWriteError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return `its file system is full (${code}); free some space`;
  return (e as Error).message;
}

/**
 * Creates the run dir with mode 0700 (tightening an existing one we own). A directory owned by
 * another user is refused, not taken over: its modes are not ours to change (root could), and
 * its owner could replace our sockets and pidfile under us.
 */
export function ensureRunDir(dir: string): void {
  let st: fs.Stats;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    st = fs.statSync(dir);
  } catch (e) {
    throw new MosndError('MOSND_ERR_RUNDIR', `cannot use run directory ${dir}: ${describeWriteError(e)}`);
  }
  if (!st.isDirectory()) throw new MosndError('MOSND_ERR_RUNDIR', `cannot use run directory ${dir}: not a directory`);
  const uid = ownUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new MosndError(
      'MOSND_ERR_RUNDIR',
      `cannot use run directory ${dir}: it belongs to uid ${st.uid}, not to this user (uid ${uid}); use a directory of your own (--run-dir)`,
    );
  }
  try {
    if ((st.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
  } catch (e) {
    throw new MosndError('MOSND_ERR_RUNDIR', `cannot use run directory ${dir}: ${(e as Error).message}`);
  }
}

export function controlSocketPath(dir: string): string {
  return path.join(dir, CONTROL_SOCKET_NAME);
}

/** The control socket an old generation serves Status on while it hands over (the serving
 *  generation owns control.sock; draining-control.ts). */
export function drainingControlSocketPath(dir: string, generation: number): string {
  return path.join(dir, `control-${generation}.sock`);
}

/** The run dir's pidfile: the serving master's pid, and the lock of the run dir. */
export function pidfilePath(dir: string): string {
  return path.join(dir, PIDFILE_NAME);
}

/** The config's `pid` file when it is not the run dir's own pidfile (a copy for other tools). */
export function extraPidfilePath(dir: string, configPid: string | undefined): string | undefined {
  if (!configPid) return undefined;
  const file = path.resolve(configPid);
  return file === pidfilePath(dir) ? undefined : file;
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A process that has exited but was not reaped yet (kill(pid, 0) still succeeds on it). */
export function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A live process that is a mosnd (node running a mosnd entry): a pidfile whose pid was
 * reused by an unrelated process after a crash must not block a start. Where /proc cannot
 * be read, any live pid counts.
 */
export function isMosndProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    if (!/mosnd/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'))) return false;
  } catch {
    return true;
  }
  // Another user's mosnd that got the pid of ours after a crash is not the owner of our run dir.
  const uid = ownUid();
  try {
    return uid === undefined || fs.statSync(`/proc/${pid}`).uid === uid;
  } catch {
    return false; // exited meanwhile
  }
}

function alreadyRunning(dir: string, pid: number | undefined): MosndError {
  return new MosndError(
    'MOSND_ERR_ALREADY_RUNNING',
    `mosnd is already running${pid ? ` with pid ${pid}` : ''} (run dir ${dir}); stop it first or use another --run-dir`,
  );
}

/** How many times a claim retries after removing a stale pidfile (another start may race it). */
const CLAIM_ATTEMPTS = 3;

/**
 * Claims the run dir for this process by creating the pidfile with our pid, atomically and
 * exclusively (a complete temp file hard-linked onto the name: link() fails if it exists),
 * so two masters starting at once cannot both own it. A live owner's pidfile refuses the
 * claim; a dead one's is moved aside (rename: only one racer gets it), checked again, and
 * removed, with the control socket it left. Call removePidfile() if the start then fails.
 */
export function claimRunDir(dir: string, pidfile: string): void {
  try {
    claim(dir, pidfile);
  } catch (e) {
    if (e instanceof MosndError) throw e;
    throw new MosndError('MOSND_ERR_RUNDIR', `cannot write the pidfile ${pidfile}: ${describeWriteError(e)}`, [], { cause: e });
  }
}

function claim(dir: string, pidfile: string): void {
  fs.mkdirSync(path.dirname(pidfile), { recursive: true });
  const tmp = `${pidfile}.${process.pid}.tmp`;
  const aside = `${pidfile}.${process.pid}.stale`;
  try {
    fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      try {
        fs.linkSync(tmp, pidfile);
        try {
          fs.unlinkSync(controlSocketPath(dir)); // left by a dead master: we own the dir now
        } catch {
          /* absent: fine */
        }
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = readPid(pidfile);
      if (pid !== undefined && pid !== process.pid && isMosndProcess(pid)) throw alreadyRunning(dir, pid);
      try {
        fs.renameSync(pidfile, aside);
      } catch {
        continue; // another start moved it first
      }
      const movedPid = readPid(aside);
      if (movedPid !== undefined && movedPid !== process.pid && isMosndProcess(movedPid)) {
        // A racing start claimed the dir between our read and our rename: give it back.
        try {
          fs.linkSync(aside, pidfile);
        } catch {
          /* someone else's again: theirs stays */
        }
        throw alreadyRunning(dir, movedPid);
      }
    }
    throw alreadyRunning(dir, readPid(pidfile));
  } finally {
    for (const f of [tmp, aside]) {
      try {
        fs.unlinkSync(f);
      } catch {
        /* absent */
      }
    }
  }
}

/** Writes the pidfile atomically (temp file + rename), so readers never see half a pid. */
export function writePidfile(file: string, pid: number): void {
  const tmp = `${file}.${pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a full disk leaves no half-written temp file behind
    throw new MosndError('MOSND_ERR_RUNDIR', `cannot write the pidfile ${file}: ${describeWriteError(e)}`, [], { cause: e });
  }
}

/**
 * True when `pid` is a mosnd master we may signal: alive, a mosnd, and ours (same user). A
 * pidfile naming someone else's process (a pid reused after a crash, a file edited by hand)
 * must never make `mosnd stop` signal it.
 */
export function isOwnMosnd(pid: number): boolean {
  return isMosndProcess(pid) && !isZombie(pid);
}

/** Removes the pidfile if it still names `pid` (a newer owner's file is left alone). */
export function removePidfile(file: string, pid: number): void {
  if (readPid(file) === pid) {
    try {
      fs.unlinkSync(file);
    } catch {
      /* already gone */
    }
  }
}
