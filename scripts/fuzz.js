#!/usr/bin/env node
'use strict';
/**
 * The long fuzz run of the HTTP/1.1 parsers (the bounded one runs in CI: test/fuzz-parsers.test.js).
 *
 *   node scripts/fuzz.js [--runs N] [--seed S] [--only REGEX] [--record]
 *
 * Runs every property of test/helpers/smuggle-fuzz.js N times (default 200,000) from seed S
 * (default: time-based, printed so a run can be repeated). A property that fails prints its
 * shrunk counterexample, the seed and the path to replay it; with --record the counterexample
 * is appended to test/fixtures/fuzz-regressions.json under a generated name (rename it to say
 * what it is), and from then on CI replays it as a named regression case. Needs a build
 * (npm run build): the parsers are taken from dist/.
 */
const fs = require('node:fs');
const path = require('node:path');
const { PROPERTIES, fc } = require('../test/helpers/smuggle-fuzz');

const REGRESSIONS = path.join(__dirname, '..', 'test', 'fixtures', 'fuzz-regressions.json');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : process.argv[i + 1];
}
const runs = Number(arg('runs', 200_000));
const seed = Number(arg('seed', Date.now() % 2 ** 31));
const only = arg('only', null);
const record = process.argv.includes('--record');

/** JSON with every non-ASCII character escaped (a NBSP must not hide in a printed input). */
function json(v) {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

let failed = 0;
for (const p of PROPERTIES) {
  if (only && !new RegExp(only).test(p.name)) continue;
  const t0 = Date.now();
  const out = fc.check(fc.property(p.arb, (input) => p.check(input)), { numRuns: runs, seed });
  if (!out.failed) {
    console.log(`ok    ${p.name} (${runs} runs, ${Date.now() - t0} ms)`);
    continue;
  }
  failed++;
  const input = out.counterexample[0];
  console.log(`FAIL  ${p.name}\n      seed ${out.seed} path ${out.counterexamplePath}\n      input ${json(input)}\n      ${String(out.errorInstance?.message ?? out.error).split('\n')[0]}`);
  if (record) {
    const list = fs.existsSync(REGRESSIONS) ? JSON.parse(fs.readFileSync(REGRESSIONS, 'utf8')) : [];
    const name = `found by scripts/fuzz.js seed ${out.seed}: ${p.name}`;
    if (!list.some((r) => r.property === p.name && JSON.stringify(r.input) === JSON.stringify(input))) {
      list.push({ name, property: p.name, input });
      fs.writeFileSync(REGRESSIONS, `${JSON.stringify(list, null, 2)}\n`);
      console.log(`      recorded in ${path.relative(process.cwd(), REGRESSIONS)}`);
    }
  }
}
console.log(`seed ${seed}: ${failed} of the properties failed`);
process.exitCode = failed > 0 ? 1 : 0;
