/** The version of this install (from its package.json). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const INSTALL_DIR = path.resolve(__dirname, '..', '..');

export const VERSION: string = (() => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(INSTALL_DIR, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
