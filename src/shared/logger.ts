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

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid, gen: opts.generation, worker: opts.worker },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destinationFor(opts.path),
  );
}
