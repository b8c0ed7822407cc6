'use strict';
// A second install of the mosnd under test, for the upgrade scenarios to alternate with (an
// upgrade always starts another install directory, as an operator's would). It holds what
// `npm ci && npm run build` leaves in a checkout: the built files copied, node_modules linked.
// It lives in the run's temp directory, so every process started from it carries the run's tag.

const fs = require('node:fs');
const path = require('node:path');

/** What a runnable install needs, relative to its root. */
const COPIED = ['bin', 'dist', 'config', 'package.json', 'proto', path.join('src', 'shared', 'control.proto'), path.join('build', 'Release')];

/** Returns the second install's directory, made once per run (ctx.altInstall caches it). */
function alternateInstall(ctx) {
  if (ctx.altInstall) return ctx.altInstall;
  const root = ctx.mosndRoot;
  const dir = path.join(ctx.tmp, 'install-b');
  for (const item of COPIED) {
    const from = path.join(root, item);
    if (!fs.existsSync(from)) throw new Error(`cannot make a second install: ${from} is missing (build mosnd first)`);
    fs.mkdirSync(path.dirname(path.join(dir, item)), { recursive: true });
    fs.cpSync(from, path.join(dir, item), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  ctx.altInstall = dir;
  return dir;
}

module.exports = { alternateInstall };
