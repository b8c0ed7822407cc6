'use strict';
/**
 * Process helpers for the supervisor and CLI tests: is a pid gone (a zombie counts as
 * gone), wait for a condition, a pid that is surely dead, `mosnd status --json`.
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const { runCli } = require('./mosnd');

/** How often waitFor() looks again: short enough for tests that time a few hundred ms. */
const POLL_MS = 25;

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves like `promise`, or with `onTimeout` after `ms` (the timer is cleared either way,
 *  so a race never keeps the test process alive). */
function within(promise, ms, onTimeout) {
  let timer;
  const timeout = new Promise((r) => (timer = setTimeout(() => r(onTimeout), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** True when `pid` no longer runs. A zombie (exited, not yet reaped) counts as gone. */
function isGone(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  // Field 3, after the parenthesised command name (which may contain spaces).
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/** Resolves with the first truthy value of `fn()` (may be async); rejects after timeoutMs. */
async function waitFor(fn, timeoutMs, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

/** True when `pid` is stopped by a signal (SIGSTOP has taken effect: it runs no more code). */
function isStopped(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}

/** SIGSTOP to `pid`, resolving once it has stopped (the signal is delivered asynchronously). */
async function freeze(pid) {
  process.kill(pid, 'SIGSTOP');
  await waitFor(() => isStopped(pid), 5_000, `pid ${pid} stopped`);
}

/** Waits until every pid is gone; resolves with the ms it took. */
async function waitGone(pids, timeoutMs) {
  const t0 = Date.now();
  await waitFor(() => pids.every(isGone), timeoutMs, `pids ${pids.join(',')} gone`);
  return Date.now() - t0;
}

/** SIGKILL to each pid that still runs (cleanup; errors ignored). */
function killAll(pids) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
}

/** The pid of a process that has already exited (for stale pidfiles). */
function deadPid() {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/**
 * A Unix socket file left behind by a process killed with SIGKILL (nothing listens on it),
 * and that process's pid, which is dead by the time this resolves.
 */
function staleSocket(file) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(file)}, () => process.stdout.write('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.stdout.once('data', () => child.kill('SIGKILL'));
    child.on('exit', () => (fs.existsSync(file) ? resolve(child.pid) : reject(new Error('no socket file left'))));
  });
}

/** `mosnd status --json` for a run dir, parsed. Rejects when the command fails. */
async function statusJson(runDir) {
  const r = await runCli(['status', '--json', '--run-dir', runDir]);
  if (r.code !== 0) throw new Error(`status --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Worker entries of a status reply. */
function workersOf(status) {
  return status.processes.filter((p) => p.role === 'worker');
}

module.exports = { sleep, within, isGone, isStopped, freeze, waitFor, waitGone, killAll, deadPid, staleSocket, statusJson, workersOf };
