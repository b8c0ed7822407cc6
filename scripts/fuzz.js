#!/usr/bin/env node
'use strict';
/**
 * The long fuzz run of the HTTP/1.1 parsers (the bounded one runs in CI: test/fuzz-parsers.test.js).
 *
 *   node scripts/fuzz.js [--runs N] [--seed S] [--only REGEX] [--record] [--process N]
 *
 * Runs every property of test/helpers/smuggle-fuzz.js N times (default 200,000) from seed S
 * (default: time-based, printed so a run can be repeated). A property that fails prints its
 * shrunk counterexample, the seed and the path to replay it; with --record the counterexample
 * is appended to test/fixtures/fuzz-regressions.json under a generated name (rename it to say
 * what it is), and from then on CI replays it as a named regression case. Needs a build
 * (npm run build): the parsers are taken from dist/.
 *
 * --process N: afterwards, N mutated requests go to a real mosnd through the differential
 * smuggling harness (test/helpers/smuggle-harness.js); every desync is printed with its bytes
 * (add it to test/helpers/smuggle-corpus.js to keep it), and a worker crash fails the run.
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

/** The process-level run: mutated valid requests through the harness to a real mosnd. */
async function processFuzz(n) {
  const { startHarness, runCase } = require('../test/helpers/smuggle-harness');
  const { mutatedValidRequests } = require('../test/helpers/smuggle-fuzz');
  const cleanups = [];
  const hs = await startHarness({ after: (fn) => cleanups.push(fn) });
  const counts = { rejected: 0, forwarded: 0, desync: 0 };
  let died = 0;
  try {
    const inputs = fc.sample(mutatedValidRequests, { numRuns: n, seed });
    for (const [i, bytes] of inputs.entries()) {
      const r = await runCase(hs, { name: `mutation ${i}`, bytes });
      counts[r.verdict]++;
      if (r.reasons.some((x) => /worker died/.test(x))) died++;
      if (r.verdict === 'desync') console.log(`DESYNC ${json(bytes)}\n      ${r.reasons.join('\n      ')}`);
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  console.log(`process fuzz, seed ${seed}: ${n} mutations, ${counts.rejected} rejected, ${counts.forwarded} forwarded, ${counts.desync} desyncs, ${died} worker crashes`);
  return died === 0;
}

const processRuns = Number(arg('process', 0));
(processRuns > 0 ? processFuzz(processRuns) : Promise.resolve(true)).then((ok) => {
  process.exitCode = failed > 0 || !ok ? 1 : 0;
});
