#!/usr/bin/env node
'use strict';
// mosnd CLI entry: the compiled code lives in dist/ (npm install runs the build).
let cli;
try {
  cli = require('../dist/master/cli.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && /dist[\\/]master[\\/]cli/.test(String(e.message))) {
    process.stderr.write('mosnd: not built yet; run `npm install` (or `npm run build`) in ' + require('path').resolve(__dirname, '..') + '\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv);
