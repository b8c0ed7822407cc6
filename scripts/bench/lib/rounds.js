'use strict';
// `--rounds N`: the load scenarios are measured N times, every peer once per round, and each peer
// keeps its median round. On these shared 2-core VMs the speed of the machine drifts by 30-40 %
// within minutes; a single pass measures peer A minutes before peer B, so their ratio carries that
// drift. Rounds put every peer's measurements side by side in time, and the median drops the
// outliers. Idle and upgrade scenarios are measured in the last round only (they are not
// throughput figures, and the upgrades loop takes whatever budget the load rounds left).

/** The value rounds are ranked by: MB/s for the 1 MB scenarios' peers too, since rps follows it. */
function rank(r) {
  return r.wrk.rps;
}

/**
 * One result per peer from the results of every round ({peerId: result} per round): the median
 * ok round (the lower of the two middle ones for an even count), annotated with the spread.
 */
function combineRounds(perRound) {
  const out = {};
  const peers = new Set(perRound.flatMap((res) => Object.keys(res)));
  for (const id of peers) {
    const all = perRound.map((res) => res[id]).filter(Boolean);
    const ok = all.filter((r) => r.status === 'ok' && r.wrk);
    // One measurement (idle, upgrades: last round only) or none usable: nothing to combine.
    if (all.length === 1 || ok.length === 0) {
      out[id] = all[0];
      continue;
    }
    const sorted = [...ok].sort((a, b) => rank(a) - rank(b));
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    const rps = sorted.map(rank);
    const skipped = all.filter((r) => r.status === 'skipped').length;
    const failed = all.length - ok.length - skipped;
    const missing = [failed ? `${failed} round(s) failed` : '', skipped ? `${skipped} skipped (time budget)` : ''].filter(Boolean);
    const range = `req/s ${Math.round(rps[0]).toLocaleString('en-US')}–${Math.round(rps[rps.length - 1]).toLocaleString('en-US')}`;
    const spread = `${ok.length === 1 ? `1 round of ${all.length}` : `median of ${ok.length} rounds, ${range}`}${missing.length ? `; ${missing.join(', ')}` : ''}`;
    out[id] = { ...median, rounds: rps, note: median.note ? `${median.note}; ${spread}` : `(${spread})` };
  }
  return out;
}

module.exports = { combineRounds };
