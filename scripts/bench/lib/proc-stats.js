'use strict';
// Reads Linux /proc for the processes of one peer: which pids belong to it, their CPU time and RSS.

const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // getconf missing: 100 is the value on every mainstream Linux build.
}

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses. */
function readStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  return {
    pid,
    state: rest[0],
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
  };
}

function listPids() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function readCmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * The pids of a peer: its root process, every descendant, every member of its process group
 * (peers are spawned as group leaders) and every process whose command line holds `tag` (the
 * peer's private temp directory), which also catches processes re-parented or started detached,
 * e.g. a new mosnd generation after an upgrade.
 */
function peerPids(rootPid, tag) {
  const stats = new Map();
  for (const pid of listPids()) {
    const s = readStat(pid);
    if (s) stats.set(pid, s);
  }
  const found = new Set();
  if (rootPid && stats.has(rootPid)) found.add(rootPid);
  for (const s of stats.values()) {
    if (rootPid && s.pgid === rootPid) found.add(s.pid);
    if (tag && readCmdline(s.pid).includes(tag)) found.add(s.pid);
  }
  // Descendants, to a fixed point.
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of stats.values()) {
      if (!found.has(s.pid) && found.has(s.ppid)) {
        found.add(s.pid);
        grew = true;
      }
    }
  }
  found.delete(process.pid);
  return [...found];
}

/** utime+stime of the given pids, in seconds (pids that exited in between count as 0). */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) ticks += s.utime + s.stime;
  }
  return ticks / clockTicks;
}

/** utime+stime per pid, in seconds, for CPU deltas that survive pids appearing or exiting. */
function cpuByPid(pids) {
  const out = new Map();
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) out.set(pid, (s.utime + s.stime) / clockTicks);
  }
  return out;
}

/** Sum of one /proc/<pid>/status field (in kB) over the given pids, in bytes. */
function statusBytes(pids, field) {
  const re = new RegExp(`${field}:\\s+(\\d+) kB`);
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = re.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // exited
    }
  }
  return kb * 1024;
}

/** Sum of VmRSS of the given pids, in bytes. */
function rssBytes(pids) {
  return statusBytes(pids, 'VmRSS');
}

/**
 * Sum of RssAnon (private, anonymous memory: heaps, stacks, buffers) of the given pids, in
 * bytes. VmRSS also counts the pages of the executable and its libraries that the process has
 * touched, which are shared by every process that maps the same files: for Node about 34 MB of
 * a bare `node`'s 40 MB. RssAnon is what one more process of the peer costs.
 */
function privateBytes(pids) {
  return statusBytes(pids, 'RssAnon');
}

/** Per-CPU busy and total jiffies from /proc/stat, keyed by CPU number. */
function cpuTimes() {
  const out = new Map();
  try {
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      // user nice system idle iowait irq softirq steal (guest time is already inside user).
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      out.set(Number(m[1]), { busy: total - v[3] - v[4], total });
    }
  } catch {
    // not Linux
  }
  return out;
}

/** Busy percentage of each CPU between two cpuTimes() samples. */
function cpuBusy(before, after) {
  const out = {};
  for (const [cpu, a] of after) {
    const b = before.get(cpu);
    if (b && a.total > b.total) out[cpu] = ((a.busy - b.busy) / (a.total - b.total)) * 100;
  }
  return out;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Whether `pid` has exited: no such process, or a zombie nobody reaped yet (an old mosnd
 * master re-parented to a PID 1 that does not reap still shows in kill(pid, 0)). */
function hasExited(pid) {
  const s = readStat(pid);
  return !s || s.state === 'Z' || s.state === 'X';
}

module.exports = { hasExited, cpuTimes, cpuBusy, peerPids, cpuSeconds, cpuByPid, rssBytes, privateBytes, readCmdline, listPids, isAlive, readStat };
