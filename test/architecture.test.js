'use strict';
/**
 * The arrows the architecture forbids (README, "Layout"): src/shared imports nothing of the
 * master, the worker or the transfer code; src/transfer imports nothing of the master or the
 * worker (it defines the interfaces it needs); the master runs no worker code and the worker
 * none of the master's. Read from the TypeScript sources, so a new import breaks this test
 * before it breaks a process boundary.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const SRC = path.join(__dirname, '..', 'src');

function sources(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'native' && e.name !== 'node_modules') out.push(...sources(p));
    } else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier a file imports or requires (static and dynamic), resolved to src/. */
function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  let m;
  while ((m = re.exec(text)) !== null) specs.push(m[1]);
  return specs.filter((s) => s.startsWith('.')).map((s) => path.relative(SRC, path.resolve(path.dirname(file), s)));
}

const FORBIDDEN = {
  shared: ['master', 'worker', 'transfer'],
  transfer: ['master', 'worker'],
  master: ['worker'],
  worker: ['master'],
};

test('no source file imports across a forbidden arrow (shared → anything, transfer → master/worker, master ↔ worker)', () => {
  const violations = [];
  for (const file of sources(SRC)) {
    const area = path.relative(SRC, file).split(path.sep)[0];
    const banned = FORBIDDEN[area] ?? [];
    for (const target of importsOf(file)) {
      const targetArea = target.split(path.sep)[0];
      if (banned.includes(targetArea)) violations.push(`${path.relative(SRC, file)} → ${target}`);
    }
  }
  assert.deepEqual(violations, []);
});
