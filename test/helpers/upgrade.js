'use strict';
/**
 * Helpers for upgrade failure tests: find every process a test started (the master, the
 * new master it spawns detached, all their workers) through an environment mark that all
 * of them inherit; find processes by command line; run `mosnd upgrade` while reading its
 * progress as it streams; open fresh connections in a loop (the accept path, which the
 * keep-alive load never exercises).
 */
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const { BIN, whenDone } = require('./mosnd');

/** How long a streamed CLI command may take before the test gives up on it. */
const STREAM_CLI_TIMEOUT_MS = 60_000;
/** Pause between the fresh connections of connectLoop: a few hundred per second at most. */
const CONNECT_LOOP_PAUSE_MS = 5;
/** One fresh-connection request must be answered this soon (a queued accept is fast). */
const CONNECT_REQUEST_TIMEOUT_MS = 5_000;

const MARK_VAR = 'MOSND_TEST_MARK';

function pidList() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => p !== process.pid);
}

function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return '';
  }
}

/** True for a process that runs (not gone, not a zombie). */
function running(pid) {
  const stat = readProc(pid, 'stat');
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Running processes whose command line contains `text`. */
function pidsWithCmdline(text) {
  return pidList().filter((p) => readProc(p, 'cmdline').split('\0').join(' ').includes(text) && running(p));
}

/** The parent pid of `pid` (0 when it is gone). */
function parentOf(pid) {
  const stat = readProc(pid, 'stat');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) || 0;
}

/**
 * The running new master of an upgrade of the master serving `runDir` (its cmdline has
 * --upgrade-from). A worker it is starting shows the same cmdline between fork and exec: a
 * match whose parent matches too is that, not a second master.
 */
function newMasterPids(runDir) {
  const matches = pidList().filter((p) => {
    const argv = readProc(p, 'cmdline').split('\0');
    return argv.includes('--upgrade-from') && argv.includes(runDir) && running(p);
  });
  return matches.filter((p) => !matches.includes(parentOf(p)));
}

/**
 * A mark for the environment of a master: every process it starts inherits it (the new
 * master of an upgrade and every worker), so `pids()` finds them all, whatever their parent.
 */
function processMark() {
  const id = crypto.randomBytes(8).toString('hex');
  const needle = `${MARK_VAR}=${id}`;
  return {
    env: { [MARK_VAR]: id },
    pids() {
      return pidList().filter((p) => readProc(p, 'environ').split('\0').includes(needle) && running(p));
    },
    killAll() {
      for (const p of this.pids()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    },
  };
}

/**
 * Runs `mosnd <args>` and exposes its output while it runs: `waitOutput(re)` resolves with
 * the stdout so far once it matches; `done` resolves { code, signal, stdout, stderr }.
 */
function streamCli(args, { env = {}, timeoutMs = STREAM_CLI_TIMEOUT_MS } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const r = { child, stdout: '', stderr: '', waiters: [] };
  const check = () => {
    for (const w of [...r.waiters]) {
      if (w.re.test(r.stdout)) {
        r.waiters.splice(r.waiters.indexOf(w), 1);
        w.resolve(r.stdout);
      }
    }
  };
  child.stdout.on('data', (d) => {
    r.stdout += d;
    check();
  });
  child.stderr.on('data', (d) => (r.stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  r.done = whenDone(child).then(({ code, signal }) => {
    clearTimeout(timer);
    for (const w of r.waiters.splice(0)) w.reject(new Error(`mosnd ${args[0]} exited before printing ${w.re}: ${r.stdout}${r.stderr}`));
    return { code, signal, stdout: r.stdout, stderr: r.stderr };
  });
  r.waitOutput = (re, waitMs = STREAM_CLI_TIMEOUT_MS) => {
    if (re.test(r.stdout)) return Promise.resolve(r.stdout);
    if (child.exitCode !== null || child.signalCode !== null) {
      return Promise.reject(new Error(`mosnd ${args[0]} already exited without printing ${re}: ${r.stdout}${r.stderr}`));
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`mosnd ${args[0]} did not print ${re} in ${waitMs} ms: ${r.stdout}`)), waitMs);
      r.waiters.push({ re, resolve: (s) => (clearTimeout(t), resolve(s)), reject: (e) => (clearTimeout(t), reject(e)) });
    });
  };
  return r;
}

/**
 * Opens one new connection after another, each sending one request with `Connection:
 * close` and reading the whole answer: proves the listening socket is accepted on.
 * stop() resolves { ok, failed, errors }.
 */
function connectLoop(port, { path = '/', host = '127.0.0.1' } = {}) {
  const stats = { ok: 0, failed: 0, errors: [] };
  let running = true;
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect(port, host);
      let data = '';
      let settled = false;
      const finish = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!err && /^HTTP\/1\.1 200 /.test(data)) stats.ok++;
        else {
          stats.failed++;
          stats.errors.push(err ?? `unexpected answer ${JSON.stringify(data.slice(0, 60))}`);
        }
        s.destroy();
        resolve();
      };
      const timer = setTimeout(() => finish('timeout'), CONNECT_REQUEST_TIMEOUT_MS);
      s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: fresh\r\nConnection: close\r\n\r\n`));
      s.on('data', (d) => (data += d.toString('latin1')));
      s.on('error', (e) => finish(e.code ?? e.message));
      s.on('close', () => finish());
    });
  const loop = (async () => {
    while (running) {
      await one();
      await new Promise((r) => setTimeout(r, CONNECT_LOOP_PAUSE_MS));
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await loop;
      return stats;
    },
  };
}

/**
 * One keep-alive HTTP/1.1 connection under the test's control: `get(path)` sends a request
 * and resolves with { status, head, body } of its response; `closed` resolves with
 * { error } when the server closes the connection (error: the socket error code, if any).
 */
async function keepAliveClient(port, host = '127.0.0.1') {
  const sock = net.connect(port, host);
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let buf = '';
  const waiting = [];
  let error = null;
  const client = {
    sock,
    responses: 0,
    closed: new Promise((resolve) => sock.on('close', () => resolve({ error }))),
    get(path, headers = '') {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n${headers}\r\n`);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    destroy() {
      sock.destroy();
    },
  };
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.slice(0, end);
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      const total = end + 4 + (cl ? Number(cl[1]) : 0);
      if (buf.length < total) return;
      const body = buf.slice(end + 4, total);
      buf = buf.slice(total);
      client.responses++;
      const w = waiting.shift();
      if (w) w.resolve({ status: Number(head.slice(9, 12)), head, body });
    }
  });
  sock.on('error', (e) => (error = e.code ?? e.message));
  sock.on('close', () => {
    for (const w of waiting.splice(0)) w.reject(new Error(`connection closed before the response (${error ?? 'FIN'})`));
  });
  return client;
}

module.exports = { pidsWithCmdline, newMasterPids, processMark, streamCli, connectLoop, keepAliveClient, running };
