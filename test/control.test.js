'use strict';
// The control API end to end: a real gRPC server on a Unix socket in a tmp dir, a
// real client, and CLI-like child processes.
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { startControlServer, CONTROL_CLOSE_GRACE_MS } = require('../dist/master/control-server');
const { ControlClient } = require('../dist/shared/control-client');
const { CONTROL_CONNECT_TIMEOUT_MS, CONTROL_STATUS_DEADLINE_MS, CONTROL_STOP_DEADLINE_MS } = require('../dist/shared/constants');
const { MosndError } = require('../dist/shared/errors');
const { whenDone } = require('./helpers/mosnd');

/** How late a timed step may be on a loaded 2-core machine (two test files at once) and
 *  still count as on time: each bound below is chosen far from the failure it detects. */
const SLACK_MS = 3_000;
/**
 * A child that returns from its script with nothing left to do exits in a few ms; one that
 * something still holds (an open channel, the call's deadline timer) waits for the status
 * deadline or until it is killed. Half that deadline tells the two apart on a loaded box.
 */
const PROMPT_EXIT_MS = CONTROL_STATUS_DEADLINE_MS / 2;
/** A CLI-like child is killed (and its test fails) if it runs this long: past its start on
 *  a loaded box plus the status deadline. */
const CHILD_KILL_MS = 30_000;

const STATUS = {
  version: '0.1.0',
  generation: 3,
  masterPid: 4242,
  state: 'running',
  startedAt: 1_700_000_000_123,
  configSource: '/etc/mosnd/mosnd.json',
  processes: [
    { role: 'master', workerId: 0, generation: 3, pid: 4242, state: 'running', uptimeMs: 86_400_000, restarts: 0, cpu: 0.5, memory: 52_428_800, connections: 0, h2Sessions: 0, h2Streams: 0, requestsTotal: 0, rps: 0, liveness: null },
    {
      role: 'worker', workerId: 2, generation: 3, pid: 4250, state: 'ready', uptimeMs: 1234, restarts: 7, cpu: 37.25, memory: 6_000_000_000, connections: 812, h2Sessions: 3, h2Streams: 17, requestsTotal: 9_007_199_254, rps: 1520.75,
      liveness: { heartbeatAgeMs: 420, eventLoopDelayP99Ms: 1.25, eventLoopDelayMaxMs: 38.5 },
    },
  ],
  listeners: [
    { name: 'http', address: '0.0.0.0:2045', protocol: 'http' },
    { name: 'tcp', address: '127.0.0.1:2046', protocol: 'tcp' },
  ],
  lastUpgrade: { result: 'failed', atMs: 1_700_000_100_000, message: 'worker 1 not ready', fromGeneration: 2, toGeneration: 3 },
  adminAddress: '127.0.0.1:34901',
  metricsAddress: '0.0.0.0:34902',
  controlPlane: null,
};

function tmpDir() {
  // Short base: a Unix socket path must fit in 107 bytes.
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mosnd-ctl-'));
}

/** Handlers that record what they were asked and answer from `behaviour`. */
function makeHandlers(behaviour = {}) {
  const seen = { stop: [], reload: [], upgrade: [] };
  const handlers = {
    async status() {
      if (behaviour.status) return behaviour.status();
      return STATUS;
    },
    async stop(fast) {
      seen.stop.push(fast);
      return { accepted: true, message: fast ? 'stopping now' : 'draining' };
    },
    async reload(configPath) {
      seen.reload.push(configPath);
      if (behaviour.reload) return behaviour.reload(configPath);
      return { ok: false, errors: ['servers[0].listeners[0].address: expected host:port'], warnings: ['tracing is not supported'], message: 'rejected' };
    },
    async upgrade(req, emit) {
      seen.upgrade.push(req);
      if (behaviour.upgrade) return behaviour.upgrade(req, emit);
      emit({ phase: 'spawn', message: 'starting generation 4', done: false, ok: false, atMs: 0, generation: 4 });
      emit({ phase: 'ready', message: 'workers ready', done: false, ok: false, atMs: 0, generation: 4 });
      emit({ phase: 'handover', message: '3 listeners, 10 connections', done: false, ok: false, atMs: 0, generation: 4 });
      emit({ phase: 'done', message: 'generation 4 serving', done: true, ok: true, atMs: 1_700_000_200_000, generation: 4 });
    },
  };
  return { handlers, seen };
}

async function rejectsWithCode(promise, code) {
  const err = await promise.then(
    () => assert.fail(`expected a rejection with ${code}`),
    (e) => e,
  );
  assert.ok(err instanceof MosndError, `expected a MosndError, got ${err && err.stack}`);
  assert.equal(err.code, code, err.message);
  return err;
}

describe('control API round trips', () => {
  let dir;
  let socketPath;
  let server;
  let client;
  let seen;

  before(async () => {
    dir = tmpDir();
    socketPath = path.join(dir, 'control.sock');
    const made = makeHandlers();
    seen = made.seen;
    server = await startControlServer(socketPath, made.handlers);
    client = new ControlClient(socketPath);
  });

  after(async () => {
    client.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('status returns every field of the master, its processes, listeners and last upgrade', async () => {
    assert.deepEqual(await client.status(), STATUS);
  });

  test('stop passes the fast flag and returns the reply', async () => {
    assert.deepEqual(await client.stop(true), { accepted: true, message: 'stopping now' });
    assert.deepEqual(await client.stop(false), { accepted: true, message: 'draining' });
    assert.deepEqual(seen.stop, [true, false]);
  });

  test('reload passes the config path, or none when not given, and returns errors and warnings', async () => {
    const reply = await client.reload('/etc/mosnd/new.json');
    assert.deepEqual(reply, {
      ok: false,
      errors: ['servers[0].listeners[0].address: expected host:port'],
      warnings: ['tracing is not supported'],
      message: 'rejected',
    });
    await client.reload();
    assert.deepEqual(seen.reload, ['/etc/mosnd/new.json', undefined]);
  });

  test('upgrade streams events in order and returns the final one', async () => {
    const events = [];
    const before = Date.now();
    const final = await client.upgrade({ binaryDir: '/opt/mosnd-0.2.0', configPath: '/etc/mosnd/m.json', timeoutMs: 45_000 }, (e) => events.push(e));
    assert.deepEqual(seen.upgrade.at(-1), { binaryDir: '/opt/mosnd-0.2.0', configPath: '/etc/mosnd/m.json', timeoutMs: 45_000 });
    assert.deepEqual(events.map((e) => e.phase), ['spawn', 'ready', 'handover', 'done']);
    assert.deepEqual(events.map((e) => e.done), [false, false, false, true]);
    assert.equal(events[2].message, '3 listeners, 10 connections');
    // The server stamps events the handler left unstamped, and keeps given stamps.
    assert.ok(events[0].atMs >= before && events[0].atMs <= Date.now(), `atMs ${events[0].atMs}`);
    assert.deepEqual(final, { phase: 'done', message: 'generation 4 serving', done: true, ok: true, atMs: 1_700_000_200_000, generation: 4 });
  });
});

describe('control API errors', () => {
  let dir;
  let socketPath;
  let server;
  let client;
  let upgradeFinished;

  before(async () => {
    dir = tmpDir();
    socketPath = path.join(dir, 'control.sock');
    let finish;
    upgradeFinished = new Promise((resolve) => (finish = resolve));
    const { handlers } = makeHandlers({
      status() {
        throw new Error('worker table corrupted');
      },
      reload(configPath) {
        if (configPath === 'sync') throw new MosndError('MOSND_ERR_CONFIG_READ', 'cannot read sync');
        throw new MosndError('MOSND_ERR_CONFIG_INVALID', 'the new configuration is invalid', ['a: expected a string', 'b: unknown cluster "x" ü']);
      },
      async upgrade(req, emit) {
        if (req.binaryDir === '/busy') {
          emit({ phase: 'check', message: 'checking', done: false, ok: false, atMs: 0, generation: 1 });
          throw new MosndError('MOSND_ERR_UPGRADE_BUSY', 'an upgrade to generation 5 is in progress');
        }
        if (req.binaryDir === '/no-final') {
          emit({ phase: 'spawn', message: '', done: false, ok: false, atMs: 0, generation: 2 });
          return;
        }
        // The client walks away after the first event; emitting must stay harmless.
        emit({ phase: 'spawn', message: '', done: false, ok: false, atMs: 0, generation: 2 });
        await new Promise((r) => setTimeout(r, 100));
        emit({ phase: 'ready', message: '', done: false, ok: false, atMs: 0, generation: 2 });
        emit({ phase: 'done', message: '', done: true, ok: true, atMs: 0, generation: 2 });
        finish();
      },
    });
    server = await startControlServer(socketPath, handlers);
    client = new ControlClient(socketPath);
  });

  after(async () => {
    client.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a MosndError thrown by a handler reaches the client with its code, message and details', async () => {
    const err = await rejectsWithCode(client.reload('/x.json'), 'MOSND_ERR_CONFIG_INVALID');
    assert.equal(err.message, 'the new configuration is invalid');
    assert.deepEqual(err.details, ['a: expected a string', 'b: unknown cluster "x" ü']);
  });

  test('a handler that throws synchronously is reported like an async one', async () => {
    const err = await rejectsWithCode(client.reload('sync'), 'MOSND_ERR_CONFIG_READ');
    assert.equal(err.message, 'cannot read sync');
    assert.deepEqual(err.details, []);
  });

  test('a plain Error thrown by a handler becomes MOSND_ERR_CONTROL naming the method', async () => {
    const err = await rejectsWithCode(client.status(), 'MOSND_ERR_CONTROL');
    assert.match(err.message, /Status: worker table corrupted/);
  });

  test('an upgrade that fails after progress delivers the events, then the error code', async () => {
    const events = [];
    const err = await rejectsWithCode(client.upgrade({ binaryDir: '/busy', configPath: '', timeoutMs: 0 }, (e) => events.push(e)), 'MOSND_ERR_UPGRADE_BUSY');
    assert.equal(err.message, 'an upgrade to generation 5 is in progress');
    assert.deepEqual(events.map((e) => e.phase), ['check']);
  });

  test('an upgrade stream that ends without a final event is an error', async () => {
    const err = await rejectsWithCode(client.upgrade({ binaryDir: '/no-final', configPath: '', timeoutMs: 0 }, () => {}), 'MOSND_ERR_CONTROL');
    assert.match(err.message, /without a final event/);
  });

  test('an upgrade goes on when the client stops listening, and the caller gets its own error back', async () => {
    const mine = new Error('terminal closed');
    await assert.rejects(
      client.upgrade({ binaryDir: '/walk-away', configPath: '', timeoutMs: 0 }, () => {
        throw mine;
      }),
      (e) => e === mine,
    );
    await upgradeFinished;
    // The server still serves after the abandoned stream.
    await rejectsWithCode(client.reload('/x.json'), 'MOSND_ERR_CONFIG_INVALID');
  });
});

describe('control socket file', () => {
  let dir;
  before(() => {
    dir = tmpDir();
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the socket is created with mode 0600', async () => {
    const socketPath = path.join(dir, 'mode.sock');
    const server = await startControlServer(socketPath, makeHandlers().handlers);
    try {
      const st = fs.statSync(socketPath);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600);
    } finally {
      await server.close();
    }
  });

  test('a stale socket left by a dead master is replaced', async () => {
    const socketPath = path.join(dir, 'stale.sock');
    await makeStaleSocket(socketPath);
    const before = new ControlClient(socketPath);
    await rejectsWithCode(before.status(), 'MOSND_ERR_NOT_RUNNING');
    before.close();

    const server = await startControlServer(socketPath, makeHandlers().handlers);
    const client = new ControlClient(socketPath);
    try {
      assert.equal((await client.status()).masterPid, 4242);
    } finally {
      client.close();
      await server.close();
    }
  });

  test('a file at the socket path that is not a socket is kept and refused', async () => {
    const socketPath = path.join(dir, 'plain.sock');
    fs.writeFileSync(socketPath, 'not a socket');
    await rejectsWithCode(startControlServer(socketPath, makeHandlers().handlers), 'MOSND_ERR_RUNDIR');
    assert.equal(fs.readFileSync(socketPath, 'utf8'), 'not a socket');
    assert.deepEqual(fs.readdirSync(dir), ['plain.sock']);
  });

  test('a socket path too long for a Unix socket is refused before anything is bound', async () => {
    const deep = path.join(dir, 'd'.repeat(Math.max(1, 100 - dir.length)));
    fs.mkdirSync(deep);
    const socketPath = path.join(deep, 'control.sock');
    assert.ok(Buffer.byteLength(socketPath) > 107);
    const err = await rejectsWithCode(startControlServer(socketPath, makeHandlers().handlers), 'MOSND_ERR_RUNDIR');
    assert.match(err.message, /longer than the 107 bytes/);
    assert.deepEqual(fs.readdirSync(deep), []);
  });

  test('close removes the socket file and later clients find no master', async () => {
    const socketPath = path.join(dir, 'closed.sock');
    const server = await startControlServer(socketPath, makeHandlers().handlers);
    const client = new ControlClient(socketPath);
    await client.status();
    client.close();
    await server.close();
    assert.equal(fs.existsSync(socketPath), false);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('closed.sock') || f.startsWith('.ctl')), []);
    const late = new ControlClient(socketPath);
    await rejectsWithCode(late.status(), 'MOSND_ERR_NOT_RUNNING');
    late.close();
  });

  test('a server that took the path over keeps it when the previous server closes', async () => {
    const socketPath = path.join(dir, 'takeover.sock');
    const oldServer = await startControlServer(socketPath, makeHandlers({ status: async () => ({ ...STATUS, generation: 1 }) }).handlers);
    const newServer = await startControlServer(socketPath, makeHandlers({ status: async () => ({ ...STATUS, generation: 2 }) }).handlers);
    try {
      await oldServer.close();
      assert.ok(fs.statSync(socketPath).isSocket());
      const client = new ControlClient(socketPath);
      assert.equal((await client.status()).generation, 2);
      client.close();
    } finally {
      await newServer.close();
    }
    assert.equal(fs.existsSync(socketPath), false);
  });
});

describe('control client failures', () => {
  let dir;
  before(() => {
    dir = tmpDir();
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a client against a missing socket gets MOSND_ERR_NOT_RUNNING at once', async () => {
    const client = new ControlClient(path.join(dir, 'nobody.sock'));
    const started = Date.now();
    const err = await rejectsWithCode(client.status(), 'MOSND_ERR_NOT_RUNNING');
    client.close();
    // At once: the refusal itself, not the connect timeout (nor the call deadline) ended it.
    assert.ok(Date.now() - started < CONTROL_CONNECT_TIMEOUT_MS, `took ${Date.now() - started} ms`);
    assert.match(err.message, /nobody\.sock/);
  });

  test('a master that accepts but never answers fails the call after the connect timeout', async () => {
    const socketPath = path.join(dir, 'hung.sock');
    const sockets = [];
    const hung = net.createServer((s) => sockets.push(s));
    await new Promise((resolve) => hung.listen(socketPath, resolve));
    const client = new ControlClient(socketPath);
    const started = Date.now();
    try {
      const err = await rejectsWithCode(client.stop(false), 'MOSND_ERR_CONTROL');
      const took = Date.now() - started;
      // The connect timeout ended it, well before the call's own deadline.
      assert.ok(took >= CONTROL_CONNECT_TIMEOUT_MS - 50 && took < CONTROL_STOP_DEADLINE_MS, `took ${took} ms`);
      assert.match(err.message, /did not accept a connection/);
    } finally {
      client.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => hung.close(resolve));
    }
  });
});

describe('control server shutdown', () => {
  let dir;
  before(() => {
    dir = tmpDir();
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('close lets a call in flight finish before the server goes away', async () => {
    const socketPath = path.join(dir, 'graceful.sock');
    let entered;
    const inHandler = new Promise((resolve) => (entered = resolve));
    const server = await startControlServer(socketPath, makeHandlers({
      async status() {
        entered();
        await new Promise((r) => setTimeout(r, 200));
        return STATUS;
      },
    }).handlers);
    const client = new ControlClient(socketPath);
    try {
      const pending = client.status();
      await inHandler;
      await server.close();
      assert.deepEqual(await pending, STATUS);
    } finally {
      client.close();
    }
  });

  test('close cuts a call that never ends after the grace period', async () => {
    const socketPath = path.join(dir, 'forced.sock');
    let entered;
    const inHandler = new Promise((resolve) => (entered = resolve));
    const server = await startControlServer(socketPath, makeHandlers({
      upgrade(req, emit) {
        emit({ phase: 'spawn', message: '', done: false, ok: false, atMs: 0, generation: 2 });
        entered();
        return new Promise(() => {});
      },
    }).handlers);
    const client = new ControlClient(socketPath);
    try {
      const pending = client.upgrade({ binaryDir: '/opt/next', configPath: '', timeoutMs: 60_000 }, () => {});
      pending.catch(() => {});
      await inHandler;
      const started = Date.now();
      await server.close();
      const took = Date.now() - started;
      // After the grace period, and not waiting for the handler that never ends (the test's
      // own timeout would end it): any bound far below that proves the cut.
      assert.ok(took >= CONTROL_CLOSE_GRACE_MS - 50 && took < CONTROL_CLOSE_GRACE_MS + SLACK_MS, `close took ${took} ms`);
      const err = await rejectsWithCode(pending, 'MOSND_ERR_CONTROL');
      assert.match(err.message, /ended Upgrade before answering/);
      assert.equal(fs.existsSync(socketPath), false);
    } finally {
      client.close();
    }
  });
});

describe('CLI-like processes', () => {
  let dir;
  let socketPath;
  let server;
  before(async () => {
    dir = tmpDir();
    socketPath = path.join(dir, 'cli.sock');
    server = await startControlServer(socketPath, makeHandlers().handlers);
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // A child that makes one call, prints the outcome with the time it was printed,
  // closes the client and returns from its script without calling process.exit.
  const CHILD = `
    const { ControlClient } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'shared', 'control-client'))});
    const client = new ControlClient(process.argv[1]);
    client.status().then(
      (s) => { client.close(); console.log(JSON.stringify({ at: Date.now(), generation: s.generation })); },
      (e) => { client.close(); console.log(JSON.stringify({ at: Date.now(), code: e.code })); },
    );`;

  function runChild(target) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', CHILD, target], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      let exitedAt = 0;
      child.stdout.on('data', (d) => (out += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_KILL_MS);
      child.on('error', reject);
      child.on('exit', () => (exitedAt = Date.now()));
      whenDone(child).then(({ code, signal }) => {
        clearTimeout(killer);
        resolve({ code, signal, exitedAt, result: out ? JSON.parse(out) : undefined });
      });
    });
  }

  test('a process that makes one call exits promptly after closing the client', async () => {
    const { code, signal, exitedAt, result } = await runChild(socketPath);
    assert.equal(signal, null, 'the child had to be killed');
    assert.equal(code, 0);
    assert.equal(result.generation, 3);
    assert.ok(exitedAt - result.at < PROMPT_EXIT_MS, `exited ${exitedAt - result.at} ms after its answer`);
  });

  test('a process whose call finds no master exits promptly too', async () => {
    const { code, signal, exitedAt, result } = await runChild(path.join(dir, 'none.sock'));
    assert.equal(signal, null, 'the child had to be killed');
    assert.equal(code, 0);
    assert.equal(result.code, 'MOSND_ERR_NOT_RUNNING');
    assert.ok(exitedAt - result.at < PROMPT_EXIT_MS, `exited ${exitedAt - result.at} ms after its answer`);
  });
});

/** A socket file nobody listens on, as a killed master leaves it. */
async function makeStaleSocket(socketPath) {
  const live = path.join(path.dirname(socketPath), 'live-for-stale.sock');
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(live, resolve));
  // A second name for the same socket survives the unlink that close() does on the first.
  fs.linkSync(live, socketPath);
  await new Promise((resolve) => srv.close(resolve));
  assert.ok(fs.statSync(socketPath).isSocket());
}
