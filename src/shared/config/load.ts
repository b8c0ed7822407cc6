/**
 * Loading a MOSN v2 JSON config: read, parse JSON (syntax errors with line and column),
 * validate against the schema, normalize. Every problem comes back at once.
 *
 *   const { config, errors, warnings } = loadConfigFile('/etc/mosnd/config.json');
 *   const { config, warnings } = loadConfigOrThrow(file); // MosndError on any error
 */

import { locateJsonError } from './json-error';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ConfigIssue, MosndConfig } from './model';
import { ErrorCode, MosndError } from '../errors';
import { configSchema } from './mosn-schema';
import { Ctx, INVALID } from './schema';
import { normalize } from './normalize';

/** The built-in default config shipped with mosnd (dist/shared/config/load.js -> config/default.json). */
export const DEFAULT_CONFIG_PATH = path.resolve(__dirname, '../../../config/default.json');

export interface ConfigResult {
  /** Set only when there are no errors. */
  config?: MosndConfig;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/** "path: message", or the message alone for problems about the whole file. */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** Validates and normalizes config text; `source` is recorded as MosndConfig.source. */
export function parseConfig(text: string, source: string): ConfigResult {
  return parseWithKind(text, source).result;
}

/** Reads and parses a config file; a read failure is reported like any other problem. */
export function loadConfigFile(file: string): ConfigResult {
  return loadWithKind(file).result;
}

/** Loads a config file or throws a MosndError listing every problem (one detail line each). */
export function loadConfigOrThrow(file: string): { config: MosndConfig; warnings: ConfigIssue[] } {
  const { result, code } = loadWithKind(file);
  if (result.config && result.errors.length === 0) return { config: result.config, warnings: result.warnings };
  const n = result.errors.length;
  throw new MosndError(code, `${file}: ${n} problem${n === 1 ? '' : 's'}`, result.errors.map(formatIssue));
}

interface Outcome {
  result: ConfigResult;
  /** Which catalogue code fits the failure. */
  code: ErrorCode;
}

function loadWithKind(file: string): Outcome {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    return {
      result: { errors: [{ path: '', message: `cannot read ${abs}: ${why}` }], warnings: [] },
      code: 'MOSND_ERR_CONFIG_READ',
    };
  }
  return parseWithKind(text, abs);
}

function parseWithKind(text: string, source: string): Outcome {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    return {
      result: { errors: [{ path: '', message: describeJsonError(text, e) }], warnings: [] },
      code: 'MOSND_ERR_CONFIG_JSON',
    };
  }
  const ctx = new Ctx();
  const raw = configSchema.parse(doc, '', ctx);
  const config = raw === INVALID ? undefined : normalize(raw, source, ctx);
  const result: ConfigResult = { errors: ctx.errors, warnings: ctx.warnings };
  if (config && ctx.errors.length === 0) result.config = config;
  return { result, code: 'MOSND_ERR_CONFIG_INVALID' };
}

/** "invalid JSON at line 3, column 5: Expected ',' or '}' after property value". */
function describeJsonError(text: string, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  // V8 names the position of some errors only; our own scan finds it for all of them.
  const spot = locateJsonError(text);
  const m = /at position (\d+)/.exec(message);
  const offset = spot ? spot.offset : m ? Number(m[1]) : text.length;
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = before[before.length - 1].length + 1;
  const what = spot
    ? spot.message
    : message.replace(/\s*in JSON at position \d+.*$/s, '').replace(/^Unexpected end of JSON input$/, 'unexpected end of input');
  return `invalid JSON at line ${line}, column ${column}: ${what}`;
}
