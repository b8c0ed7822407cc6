/**
 * pino loggers for the master and workers. Every line carries `gen` and `worker`
 * (`worker` is "master" in the master) so lines from all processes of all generations can
 * be told apart in one stream.
 */
import pino from 'pino';
import type { LogLevel } from './config/model';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** 'stdout', 'stderr' or a file path (appended). */
  path: string;
  level: LogLevel;
  generation: number;
  worker: number | 'master';
}

function destinationFor(path: string): pino.DestinationStream {
  if (path === 'stdout' || path === '') return pino.destination({ fd: 1, sync: true });
  if (path === 'stderr') return pino.destination({ fd: 2, sync: true });
  return pino.destination({ dest: path, sync: true, append: true, mkdir: true });
}

/** File destinations of loggers, for reopenLogFile (stdout/stderr have none). */
const fileDestinations = new WeakMap<Logger, pino.DestinationStream & { reopen(): void }>();

export function createLogger(opts: LoggerOptions): Logger {
  const dest = destinationFor(opts.path);
  const logger = pino(
    {
      level: opts.level,
      base: { pid: process.pid, gen: opts.generation, worker: opts.worker },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  if (opts.path !== 'stdout' && opts.path !== 'stderr' && opts.path !== '') {
    fileDestinations.set(logger, dest as pino.DestinationStream & { reopen(): void });
  }
  return logger;
}

/**
 * Reopens the logger's file at its path (SIGUSR1 after logrotate moved it away); a no-op for
 * stdout/stderr. Returns false when the file could not be reopened (the old one stays in use).
 */
export function reopenLogFile(logger: Logger): boolean {
  const dest = fileDestinations.get(logger);
  if (!dest) return true;
  try {
    dest.reopen();
    return true;
  } catch {
    return false;
  }
}
