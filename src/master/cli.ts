/**
 * The `mosnd` command line. `start` runs the master in this process (or, with --daemon, in
 * a detached child); the other commands talk to a running master over the control socket.
 * Exit codes: 0 success, 1 failure, 2 usage, 3 not running (status).
 */
import { SERVICE_CLUSTER_ENV, SERVICE_NODE_ENV } from './xds/start';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../shared/duration';
import { DEFAULT_UPGRADE_TIMEOUT_MS } from '../transfer/constants';
import { ControlClient } from '../shared/control-client';
import { ErrorCode, ErrorCodes, MosndError, isMosndError } from '../shared/errors';
import { Master, loadOrThrow } from './master-main';
import { controlSocketPath, ensureRunDir, isAlive, isOwnMosnd, isZombie, locateRunDir, pidfilePath, readPid, resolveRunDir } from './rundir';
import { VERSION } from './version';
import {
  CLI_POLL_INTERVAL_MS,
  DAEMON_READY_TIMEOUT_MS,
  STATUS_WATCH_INTERVAL_MS,
  STATUS_WATCH_MIN_INTERVAL_MS,
  STOP_WAIT_MARGIN_MS,
  UPGRADE_OLD_MASTER_EXIT_WAIT_MS,
  UPGRADE_OLD_MASTER_POLL_MS,
} from '../shared/constants';
import { DEFAULT_GRACEFUL_TIMEOUT_MS } from '../shared/config/defaults';
import { loadConfigFile } from '../shared/config/load';
import { formatStatusTable } from './status-format';
import { explainLostUpgradeStream } from './upgrade-outcome';

const EXIT_FAILURE = 1;
const EXIT_NOT_RUNNING = 3;
/** `mosnd status`: a master answers but does not serve (starting, stopping). */
const EXIT_NOT_SERVING = 4;

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Where the run dir is for commands that talk to a master: --run-dir, else the `uds_dir` of
 *  the -c file, else the default (rundir.ts). */
function runDirOf(opts: { runDir?: string; config?: string }): string {
  return locateRunDir(opts);
}

function fail(e: unknown): never {
  if (isMosndError(e)) {
    process.stderr.write(`mosnd: ${e.describe()}\n`);
    process.exit(e.code === 'MOSND_ERR_NOT_RUNNING' ? EXIT_NOT_RUNNING : EXIT_FAILURE);
  }
  process.stderr.write(`mosnd: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(EXIT_FAILURE);
}

async function startForeground(opts: StartOptions): Promise<void> {
  const master = new Master({
    configPath: opts.config,
    workers: opts.workers,
    runDir: opts.runDir,
    upgradeFrom: opts.upgradeFrom,
    onWarning: (w) => process.stderr.write(`mosnd: warning: ${w}\n`),
  });
  const code = await master.run();
  process.exit(code);
}

/**
 * The error a daemon that failed to start printed (its `mosnd: ... [CODE]` line and the
 * detail lines under it), read from where this run's output begins in the log.
 */
function daemonFailure(logFile: string, from: number): MosndError | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(logFile).subarray(from).toString('utf8').split('\n');
  } catch {
    return undefined;
  }
  for (let i = 0; i < lines.length; i++) {
    const m = /^mosnd: (.*) \[(MOSND_ERR_[A-Z_]+)\]$/.exec(lines[i]);
    if (!m || !(m[2] in ErrorCodes)) continue;
    const details: string[] = [];
    for (const l of lines.slice(i + 1)) {
      if (!l.startsWith('  - ')) break;
      details.push(l.slice(4));
    }
    return new MosndError(m[2] as ErrorCode, m[1], details);
  }
  return undefined;
}

async function startDaemon(opts: StartOptions): Promise<void> {
  // Validate before detaching so errors reach the terminal.
  const { config } = loadOrThrow(opts.config);
  const runDir = resolveRunDir(opts.runDir, config.udsDir);
  ensureRunDir(runDir);
  const logFile = path.join(runDir, 'mosnd.out');
  const out = fs.openSync(logFile, 'a', 0o600);
  const logStart = fs.fstatSync(out).size;
  const args = [path.join(__dirname, '..', '..', 'bin', 'mosnd.js'), 'start', '-c', path.resolve(opts.config), '--run-dir', runDir];
  if (opts.workers) args.push('--workers', String(opts.workers));
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  const client = new ControlClient(controlSocketPath(runDir));
  const deadline = Date.now() + DAEMON_READY_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      if (exited !== null) {
        // Say why (a busy port, a run dir already owned...), not only that it failed.
        throw daemonFailure(logFile, logStart) ?? new MosndError('MOSND_ERR_WORKER_START', `the daemon exited with code ${exited}; see ${logFile}`);
      }
      try {
        const st = await client.status();
        if (st.masterPid === child.pid && st.state === 'serving') {
          process.stdout.write(`mosnd started as a daemon, pid ${child.pid}, logs in ${logFile}\n`);
          child.unref();
          return;
        }
      } catch {
        /* not up yet */
      }
      await sleep(CLI_POLL_INTERVAL_MS);
    }
    child.kill('SIGKILL');
    throw new MosndError('MOSND_ERR_WORKER_START', `the daemon did not become ready in ${DAEMON_READY_TIMEOUT_MS} ms; see ${logFile}`);
  } finally {
    client.close();
  }
}

interface StartOptions {
  config: string;
  workers?: number;
  runDir?: string;
  daemon?: boolean;
  upgradeFrom?: string;
  serviceNode?: string;
  serviceCluster?: string;
}

/** --service-node / --service-cluster (what Istio's agent passes) travel in the environment, so
 *  a daemon and every later generation of an upgrade subscribe as the same node. */
function exportNodeFlags(opts: StartOptions): void {
  if (opts.serviceNode) process.env[SERVICE_NODE_ENV] = opts.serviceNode;
  if (opts.serviceCluster) process.env[SERVICE_CLUSTER_ENV] = opts.serviceCluster;
}

interface StopOptions {
  fast?: boolean;
  runDir?: string;
  config?: string;
  timeout?: number;
}

/**
 * How long the master may take to drain when it did not say (it could not be asked, or is
 * older): the graceful_timeout of the -c file if it loads, else the default one.
 */
function assumedDrainMs(opts: StopOptions): number {
  if (opts.fast) return 0;
  return (opts.config && loadConfigFile(opts.config).config?.gracefulTimeoutMs) || DEFAULT_GRACEFUL_TIMEOUT_MS;
}

async function stopCommand(opts: StopOptions): Promise<void> {
  const dir = runDirOf(opts);
  let pid = readPid(pidfilePath(dir));
  let drainMs: number | undefined;
  const client = new ControlClient(controlSocketPath(dir));
  try {
    const reply = await client.stop(Boolean(opts.fast));
    pid = reply.pid ?? pid;
    drainMs = reply.drainTimeoutMs;
  } catch (e) {
    // The control socket is gone but the master lives (e.g. it is wedged): fall back to a signal.
    if (isMosndError(e) && e.code === 'MOSND_ERR_NOT_RUNNING' && pid !== undefined && isAlive(pid)) {
      // Never signal a process that is not our mosnd (a reused pid, a pidfile edited by hand).
      if (!isOwnMosnd(pid)) {
        throw new MosndError('MOSND_ERR_NOT_RUNNING', `no mosnd answers in ${dir}; its pidfile names pid ${pid}, which is not a mosnd of this user: nothing was signalled`);
      }
      process.kill(pid, opts.fast ? 'SIGINT' : 'SIGTERM');
    } else {
      throw e;
    }
  } finally {
    client.close();
  }
  if (pid === undefined) return;
  // The master's own drain time (its graceful_timeout) plus the margin for what follows it.
  const drain = drainMs ?? assumedDrainMs(opts);
  const waitMs = opts.timeout ?? drain + STOP_WAIT_MARGIN_MS;
  const how = opts.timeout !== undefined ? '--timeout' : `${opts.fast ? 'fast stop' : `graceful_timeout ${drain} ms`} + ${STOP_WAIT_MARGIN_MS} ms margin`;
  const deadline = Date.now() + waitMs;
  // On stderr, like other progress: stdout keeps the one result line scripts read.
  process.stderr.write(`mosnd (pid ${pid}) is stopping; waiting up to ${waitMs} ms for it to exit (${how})\n`);
  while (isAlive(pid) && !isZombie(pid)) {
    if (Date.now() > deadline) {
      throw new MosndError('MOSND_ERR_CONTROL', `mosnd (pid ${pid}) is still running after ${waitMs} ms (${how})`);
    }
    await sleep(CLI_POLL_INTERVAL_MS);
  }
  process.stdout.write(`mosnd (pid ${pid}) stopped\n`);
}

async function reloadCommand(opts: { runDir?: string; config?: string }): Promise<void> {
  const client = new ControlClient(controlSocketPath(runDirOf(opts)));
  try {
    const r = await client.reload(opts.config ? path.resolve(opts.config) : undefined);
    for (const w of r.warnings) process.stderr.write(`mosnd: warning: ${w}\n`);
    if (!r.ok) {
      throw new MosndError('MOSND_ERR_RELOAD', r.message || 'the reload was rejected', r.errors);
    }
    process.stdout.write(`${r.message}\n`);
  } finally {
    client.close();
  }
}

interface StatusOptions {
  runDir?: string;
  config?: string;
  json?: boolean;
  watch?: boolean;
  interval: number;
}

async function statusCommand(opts: StatusOptions): Promise<void> {
  const socket = controlSocketPath(runDirOf(opts));
  if (opts.watch) return watchStatus(socket, opts);
  const client = new ControlClient(socket);
  try {
    const st = await client.status();
    process.stdout.write(opts.json ? `${JSON.stringify(st, null, 2)}\n` : formatStatusTable(st));
    if (!isServing(st.state)) process.exitCode = EXIT_NOT_SERVING;
  } catch (e) {
    if (isMosndError(e) && e.code === 'MOSND_ERR_NOT_RUNNING') {
      process.stderr.write('mosnd is not running\n');
      process.exit(EXIT_NOT_RUNNING);
    }
    throw e;
  } finally {
    client.close();
  }
}

/** Redraws the status in place every interval until interrupted (--json: one document per line). */
async function watchStatus(socket: string, opts: StatusOptions): Promise<void> {
  let stop = false;
  const quit = (): void => {
    stop = true;
    if (!opts.json) process.stdout.write(SHOW_CURSOR);
    process.exit(0);
  };
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  if (!opts.json) process.stdout.write(HIDE_CURSOR);
  let client = new ControlClient(socket);
  while (!stop) {
    let frame: string;
    try {
      const st = await client.status();
      frame = opts.json ? `${JSON.stringify(st)}\n` : formatStatusTable(st);
    } catch (e) {
      // A fresh client each time the master is away: gRPC would back off its reconnects.
      client.close();
      client = new ControlClient(socket);
      const message = isMosndError(e) && e.code === 'MOSND_ERR_NOT_RUNNING' ? `mosnd is not running (nothing answers on ${socket})` : (e as Error).message;
      frame = opts.json ? `${JSON.stringify({ error: message })}\n` : `${message}\n`;
    }
    const at = new Date().toISOString();
    process.stdout.write(opts.json ? frame : `${CLEAR_SCREEN}${at}  (every ${opts.interval / 1000} s, Ctrl-C to quit)\n${frame}`);
    await sleep(opts.interval);
  }
}

/** Cursor home + clear screen: each frame replaces the previous one. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

function isServing(state: string): boolean {
  return state === 'serving' || state === 'reloading';
}

function intervalOption(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms < STATUS_WATCH_MIN_INTERVAL_MS) {
    throw new InvalidArgumentError(`expected a duration of at least ${STATUS_WATCH_MIN_INTERVAL_MS}ms such as "2s"`);
  }
  return ms;
}

function durationOption(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as "60s" or "2m"');
  return ms;
}

async function upgradeCommand(opts: { binary: string; config?: string; timeout: number; runDir?: string }): Promise<void> {
  const dir = runDirOf(opts);
  const client = new ControlClient(controlSocketPath(dir));
  const started = Date.now();
  const oldMaster = readPid(pidfilePath(dir));
  let committed: number | undefined;
  try {
    const final = await client
      .upgrade(
        { binaryDir: path.resolve(opts.binary), configPath: opts.config ? path.resolve(opts.config) : '', timeoutMs: opts.timeout },
        (e) => {
          if (e.phase === 'committed') committed = e.generation;
          if (!e.done) process.stdout.write(`[${((e.atMs - started) / 1000).toFixed(2)}s] ${e.phase}: ${e.message}\n`);
        },
      )
      .catch(async (err: unknown) => {
        // The old master died after commit: say what happened rather than "Connection dropped".
        const what = await explainLostUpgradeStream(dir, oldMaster, committed);
        if (what === null) throw err;
        return { done: true, ok: true, phase: 'orphaned', message: what } as const;
      });
    if (!final.ok) throw new MosndError('MOSND_ERR_UPGRADE_FAILED', final.message);
    // Return only once the old master is gone (it exits right after its last event), so a
    // script that runs `mosnd upgrade` can rely on a single generation afterwards.
    if (final.phase === 'done' && oldMaster !== undefined) {
      const deadline = Date.now() + UPGRADE_OLD_MASTER_EXIT_WAIT_MS;
      while (isAlive(oldMaster) && !isZombie(oldMaster) && Date.now() < deadline) await sleep(UPGRADE_OLD_MASTER_POLL_MS);
    }
    process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(2)}s] done: ${final.message}\n`);
  } finally {
    client.close();
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('mosnd')
    .description('MOSN-compatible proxy and process supervisor with zero-drop upgrades')
    .version(VERSION, '-v, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('start')
    .description('start the master and its workers')
    .requiredOption('-c, --config <file>', 'MOSN v2 JSON configuration file')
    .option('-w, --workers <n>', 'worker processes (default: one per core)', positiveInt)
    .option('--run-dir <dir>', 'directory for the pidfile and control socket')
    .option('-d, --daemon', 'run in the background once ready')
    .addOption(new Option('--upgrade-from <socket>', 'internal: join a running generation as its upgrade').hideHelp())
    .option('--service-node <id>', 'xDS: the node id to subscribe as (wins over the config\'s node.id)')
    .option('--service-cluster <name>', 'xDS: the node cluster (wins over the config\'s node.cluster)')
    .action((opts: StartOptions) => {
      exportNodeFlags(opts);
      return opts.daemon ? startDaemon(opts) : startForeground(opts);
    });

  program
    .command('stop')
    .description('stop gracefully: finish requests in flight, then exit')
    .option('--fast', 'close connections now (like SIGINT)')
    .option('-c, --config <file>', 'the configuration the mosnd was started with: finds it by its uds_dir')
    .option('--run-dir <dir>', 'run directory of the mosnd to stop (wins over the uds_dir of -c)')
    .option('--timeout <ms>', `how long to wait for the exit (default: the master's graceful_timeout + ${STOP_WAIT_MARGIN_MS / 1000} s)`, positiveInt)
    .action(stopCommand);

  program
    .command('reload')
    .description('re-read the configuration; a bad one is rejected and the running one stays')
    .option('--run-dir <dir>', 'run directory of the running mosnd (wins over the uds_dir of -c)')
    .option('-c, --config <file>', 'switch to this configuration file (its uds_dir also finds the mosnd)')
    .action(reloadCommand);

  program
    .command('status')
    .description('show the processes of the running mosnd (and of a generation still draining after an upgrade)')
    .option('--json', 'print one JSON document')
    .option('--watch', 'redraw in place every interval until Ctrl-C (with --json: one document per line)')
    .option('--interval <duration>', 'refresh interval for --watch (Go duration)', intervalOption, STATUS_WATCH_INTERVAL_MS)
    .option('-c, --config <file>', 'the configuration the mosnd was started with: finds it by its uds_dir')
    .option('--run-dir <dir>', 'run directory of the running mosnd (wins over the uds_dir of -c)')
    .addHelpText('after', '\nExit status: 0 serving, 3 not running, 4 running but not serving (starting, stopping), 1 error.')
    .action(statusCommand);

  program
    .command('upgrade')
    .description('start another install as a new generation and hand it every listener and live connection')
    .requiredOption('--binary <dir>', 'root of the installed and built mosnd to run (its package.json declares the mosnd bin)')
    .option('-c, --config <file>', 'switch to this configuration file at the same time (its uds_dir also finds the mosnd)')
    .option('--timeout <duration>', 'how long the new generation may take to be ready (Go duration)', durationOption, DEFAULT_UPGRADE_TIMEOUT_MS)
    .option('--run-dir <dir>', 'run directory of the running mosnd (wins over the uds_dir of -c)')
    .action(upgradeCommand);

  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`mosnd ${VERSION} (node ${process.version})\n`);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exit(e.exitCode === 0 ? 0 : 2);
    }
    fail(e);
  }
}
