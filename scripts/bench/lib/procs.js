'use strict';
// Starts every process of the run as its own process-group leader, remembers it, and kills all of
// them at the end, on error, on a signal and at process exit. Nothing is killed by name: only the
// groups and the pids (found by our private temp-directory tag) that this run started.

const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { peerPids, isAlive, hasExited } = require('./proc-stats');
const { PEER_STOP_GRACE_MS } = require('./constants');

const TAIL_BYTES = 16384;

class Proc {
  constructor(name, child, logFile) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.logFile = logFile;
    this.tail = '';
    this.exited = null; // { code, signal } once exited
    this.listeners = [];
    const log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;
    const onData = (buf) => {
      const text = buf.toString('utf8');
      this.tail = (this.tail + text).slice(-TAIL_BYTES);
      if (log) log.write(buf);
      for (const fn of this.listeners) fn(text);
    };
    if (child.stdout) child.stdout.on('data', onData);
    if (child.stderr) child.stderr.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
      child.on('error', (err) => {
        this.tail += `\nspawn error: ${err.message}`;
        this.exited = { code: -1, signal: null, error: err };
        resolve(this.exited);
      });
    });
    // The log ends when the output pipes close, not at exit: a process may leave children that
    // inherited them (a mosnd master spawns the next generation with its own stdout), and a
    // write after end() would throw.
    child.on('close', () => log && log.end());
  }

  onOutput(fn) {
    this.listeners.push(fn);
  }

  /** Last non-empty output lines, for error messages. */
  lastLines(n = 3) {
    return this.tail
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-n)
      .join(' | ');
  }
}

class Registry {
  constructor(tag) {
    this.tag = tag; // private temp directory of the run; every peer's command line contains it
    this.procs = new Set();
  }

  /**
   * Spawns `cmd args` pinned to `cpus` (a taskset list such as "0" or "0,1"; null = no pinning)
   * as the leader of a new process group.
   */
  spawn(name, cmd, args, { cpus = null, cwd, env, logFile, ipc = false } = {}) {
    const argv = cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
    const stdio = ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    const child = spawn(argv[0], argv[1], { cwd, env: env || process.env, detached: true, stdio });
    const proc = new Proc(name, child, logFile);
    this.procs.add(proc);
    proc.exitPromise.then(() => this.procs.delete(proc));
    return proc;
  }

  /** Graceful stop of one process group: `signal`, then SIGKILL after the grace period. */
  async stop(proc, signal = 'SIGTERM', graceMs = PEER_STOP_GRACE_MS) {
    if (!proc) return;
    const extra = peerPids(proc.pid, null);
    signalGroup(proc.pid, signal);
    const timer = new Promise((r) => setTimeout(r, graceMs));
    await Promise.race([proc.exitPromise, timer]);
    // Children may outlive the leader for a moment; give the group the same grace, then kill it.
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (groupAlive(proc.pid) || extra.some(isAlive))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    signalGroup(proc.pid, 'SIGKILL');
    for (const pid of extra) safeKill(pid, 'SIGKILL');
    this.procs.delete(proc);
  }

  /** Synchronous last resort, usable from process.on('exit'): SIGKILL to everything we started. */
  killAllSync() {
    for (const proc of this.procs) signalGroup(proc.pid, 'SIGKILL');
    this.procs.clear();
    if (this.tag) {
      for (const pid of peerPids(null, this.tag)) safeKill(pid, 'SIGKILL');
    }
  }

  async stopAll() {
    await Promise.all([...this.procs].map((p) => this.stop(p, 'SIGTERM', 2000)));
    this.killAllSync();
  }
}

/**
 * Stops a peer: its process group, then anything still carrying its temp-directory tag (for
 * mosnd, the generations that upgrades started detached, in their own process groups).
 */
async function stopPeer(ctx, handle) {
  if (!handle) return;
  if (handle.proc) await ctx.registry.stop(handle.proc, 'SIGTERM');
  if (!handle.tag) return;
  const rest = peerPids(null, handle.tag);
  for (const pid of rest) safeKill(pid, 'SIGTERM');
  const deadline = Date.now() + PEER_STOP_GRACE_MS;
  const running = () => rest.filter((pid) => !hasExited(pid));
  while (Date.now() < deadline && running().length) await new Promise((r) => setTimeout(r, 50));
  for (const pid of running()) safeKill(pid, 'SIGKILL');
}

function safeKill(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    safeKill(pgid, signal);
  }
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

module.exports = { Registry, stopPeer };
