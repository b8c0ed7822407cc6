'use strict';
// Turns the results of one run into Markdown (absolute figures + ratios) and JSON.

const SUBJECTS = ['mosnd-1w', 'mosnd-2w', 'node-raw', 'http-proxy-3', 'node-pipe'];
const REFERENCES = ['nginx', 'haproxy', 'node-raw', 'http-proxy-3', 'node-pipe', 'direct'];

const fmt = {
  n(v, digits = 0) {
    if (v === undefined || v === null || !Number.isFinite(v)) return '—';
    return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  },
  ms(v) {
    if (v === undefined || v === null || !Number.isFinite(v)) return '—';
    return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
  },
  mb(bytes) {
    return bytes === undefined || bytes === null ? '—' : (bytes / 1048576).toFixed(1);
  },
  ratio(v) {
    if (!Number.isFinite(v)) return '—';
    return v >= 10 ? v.toFixed(1) : v.toFixed(2);
  },
};

function peerLabel(peer, scenario) {
  return scenario.mode === 'tcp' && peer.tcpLabel ? peer.tcpLabel : peer.label;
}

function statusCell(r) {
  return `${r.status}${r.reason ? `: ${r.reason}` : ''}`;
}

function loadTable(scenario, peers, results) {
  const big = scenario.metric === 'MBps';
  // h2load reports the mean and the maximum latency, not percentiles.
  const h2load = scenario.tool === 'h2load';
  const latHead = h2load ? 'mean ms | max ms' : 'p50 ms | p99 ms | p99.9 ms';
  const head = big
    ? `| peer | MB/s | req/s | ${latHead} | errors | proxy CPU µs/req | proxy CPU % | proxy RSS MB | CPU busy % proxy/load |`
    : `| peer | req/s | ${latHead} | errors | proxy CPU µs/req | proxy CPU % | proxy RSS MB | CPU busy % proxy/load |`;
  const cols = head.split('|').length - 2;
  const lines = [head, `|${' --- |'.repeat(cols)}`];
  for (const peer of peers) {
    const r = results[peer.id];
    if (!r) continue;
    if (r.status !== 'ok') {
      lines.push(`| ${peerLabel(peer, scenario)} | ${statusCell(r)} |${' |'.repeat(cols - 2)}`);
      continue;
    }
    const w = r.wrk;
    const cells = [
      peerLabel(peer, scenario),
      ...(big ? [fmt.n(w.bytesPerSec / 1048576, 0)] : []),
      fmt.n(w.rps),
      ...(h2load
        ? [fmt.ms(w.latencyMs.mean), fmt.ms(w.latencyMs.max)]
        : [fmt.ms(w.latencyMs.p50), fmt.ms(w.latencyMs.p99), fmt.ms(w.latencyMs.p999)]),
      errorsCell(w.errors),
      r.cpuPerReqUs === null ? '—' : fmt.n(r.cpuPerReqUs, 1),
      r.cpuPercent === null ? '—' : fmt.n(r.cpuPercent),
      r.rssBytes === null ? '—' : fmt.mb(r.rssBytes),
      r.cpuBusy ? `${fmt.n(r.cpuBusy.proxy)} / ${fmt.n(r.cpuBusy.load)}` : '—',
    ];
    lines.push(`| ${cells.join(' | ')} |${r.note ? ` ${r.note}` : ''}`);
  }
  return lines.join('\n');
}

function errorsCell(e) {
  if (e.total === 0) return '0';
  const parts = Object.entries(e)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => `${k} ${v}`);
  return `${e.total} (${parts.join(', ')})`;
}

function idleTable(peers, results) {
  const lines = [
    '| peer | connections open | RSS before MB | private before MB | RSS with idle MB | added KB / connection | still alive at probe | open time s | settle s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const peer of peers) {
    const r = results[peer.id];
    if (!r) continue;
    if (r.status !== 'ok') {
      lines.push(`| ${peer.label} | ${statusCell(r)} | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${peer.label} | ${fmt.n(r.opened)} / ${fmt.n(r.count)}${r.openFailed ? ` (${r.firstError})` : ''} | ${fmt.mb(r.rssBefore)} | ${r.privateBefore == null ? '—' : fmt.mb(r.privateBefore)} | ${fmt.mb(r.rssAfter)} | ${fmt.n(r.perConnKB, 1)} | ${fmt.n(r.alive)}${r.closedWhileIdle ? ` (${r.closedWhileIdle} closed while idle)` : ''} | ${(r.openMs / 1000).toFixed(1)} | ${r.settleMs == null ? '—' : (r.settleMs / 1000).toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

function spreadCell(x, unit = '') {
  if (!x || x.n === 0) return '—';
  return `${fmt.ms(x.median)} / ${fmt.ms(x.p95)} / ${fmt.ms(x.max)}${unit}`;
}

function byKindText(errors) {
  const parts = Object.entries(errors.byKind || {}).map(([k, v]) => `${v} ${k}`);
  return parts.length ? parts.join(', ') : '';
}

/** Socket-level errors of an upgrades run: HTTP and TCP error lists together. */
function socketErrors(r) {
  return r.http.errors.total + (r.tcp ? r.tcp.errors.total : 0);
}

function upgradesText(r) {
  const s = r.summary;
  return `${s.ok}/${s.count} ok`;
}

function upgradesTables(peers, results) {
  const rows = peers.map((p) => [p, results[p.id]]).filter(([, r]) => r);
  if (rows.length === 0) return '';
  const out = [];
  const bad = rows.filter(([, r]) => r.status !== 'ok');
  const good = rows.filter(([, r]) => r.status === 'ok');
  for (const [peer, r] of bad) out.push(`- ${peer.label}: ${statusCell(r)}`);
  if (good.length === 0) return out.join('\n');
  if (bad.length) out.push('');

  out.push('**Accounting** (whole run: warm-up upgrades, warm-up, steady window, upgrades; every figure must be 0 except requests and bytes)', '');
  out.push('| peer | upgrades ok / failed | requests ok | failed requests | socket errors | client reconnects | TCP MB echoed | TCP bytes lost | TCP mismatches |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [peer, r] of good) {
    const errs = socketErrors(r);
    const kinds = [byKindText(r.http.errors), r.tcp ? byKindText(r.tcp.errors) : ''].filter(Boolean).join('; ');
    out.push(
      `| ${peer.label} | ${r.summary.ok} / ${r.summary.failed}${r.summary.count < r.planned ? ` (of ${r.planned} planned)` : ''} | ${fmt.n(r.http.ok)} | ${fmt.n(r.http.failed)} | ${fmt.n(errs)}${kinds ? ` (${kinds})` : ''} | ${fmt.n(r.reconnects)} | ${r.tcp ? fmt.n(r.tcp.received / 1048576, 0) : '—'} | ${fmt.n(r.bytesLost)} | ${r.tcp ? fmt.n(r.tcp.mismatches) : '—'} |`,
    );
  }
  out.push('');
  out.push('**Latency**: the HTTP clients during the upgrades against a steady window of the same length just before them (no upgrade)', '');
  out.push('| peer | window | length s | responses | req/s | p50 ms | p99 ms | max ms |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [peer, r] of good) {
    for (const [name, w] of [['steady', r.steady], ['during upgrades', r.during]]) {
      if (!w) continue;
      out.push(`| ${peer.label} | ${name} | ${w.seconds.toFixed(1)} | ${fmt.n(w.requests)} | ${fmt.n(w.seconds > 0 ? w.requests / w.seconds : null)} | ${fmt.ms(w.p50)} | ${fmt.ms(w.p99)} | ${fmt.ms(w.max)} |`);
    }
  }
  out.push('');
  out.push('**Upgrade timing** (median / p95 / max over the successful upgrades, ms; times are from the start of the `mosnd upgrade` command)', '');
  out.push('| peer | committed: new generation accepts | `moved:` line: old workers done | handover (from the `moved:` line) | command returns | old generation gone (every pid checked) | connections moved per upgrade min / median / max | finished in old / closed at deadline |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [peer, r] of good) {
    const s = r.summary;
    out.push(
      `| ${peer.label} | ${spreadCell(s.committedMs)} | ${spreadCell(s.movedAtMs)} | ${spreadCell(s.handoverMs)} | ${spreadCell(s.commandMs)} | ${spreadCell(s.oldExitMs)} | ${s.moved.min ?? '—'} / ${s.moved.median ?? '—'} / ${s.moved.max ?? '—'} | ${s.drained} / ${s.closedAtDeadline} |`,
    );
  }
  const notes = [];
  for (const [peer, r] of good) {
    const warm = r.warmups.map((w) => (w.ok ? `ok in ${w.ms} ms (handover ${w.handoverMs ?? '—'} ms, ${w.moved ?? '—'} moved)` : `failed: exit ${w.code ?? w.signal}: ${w.output}`));
    notes.push(`- ${peer.label}: warm-up upgrades (before the steady window, not in the timing table): ${warm.join('; ')}.`);
    if (r.stopReason) notes.push(`- ${peer.label}: ${r.stopReason}.`);
    if (r.summary.firstFailure) notes.push(`- ${peer.label}: first failed upgrade: ${r.summary.firstFailure}`);
    if (r.summary.oldNeverExited) notes.push(`- ${peer.label}: ${r.summary.oldNeverExited} upgrade(s) left old-generation processes running.`);
    if (r.summary.oldAliveAtCommandExit) {
      const who = r.summary.oldMasterAliveAtCommandExit === r.summary.oldAliveAtCommandExit ? 'the old master' : 'an old-generation process';
      notes.push(
        `- ${peer.label}: ${r.summary.oldAliveAtCommandExit} of ${r.summary.ok} commands returned while ${who} was still alive; it was gone ${fmt.ms(r.summary.exitLagMs.median)} ms later (median; max ${fmt.ms(r.summary.exitLagMs.max)} ms).`,
      );
    }
    if (r.stopTimedOut) notes.push(`- ${peer.label}: some clients were still waiting when the load stopped: the accounting is partial.`);
    const other = Object.entries(r.http.statuses || {}).filter(([code]) => code !== '200');
    if (other.length) notes.push(`- ${peer.label}: responses other than 200: ${other.map(([c, n]) => `${n} × ${c}`).join(', ')}.`);
    const samples = [...r.http.errors.samples, ...(r.tcp ? r.tcp.errors.samples : [])];
    if (samples.length) notes.push(`- ${peer.label}: first errors: ${samples.slice(0, 5).join('; ')}`);
    notes.push(`- ${peer.label}: after the last upgrade, ${r.processesAfter} process(es) serve, RSS ${fmt.mb(r.rssAfter)} MB.`);
  }
  out.push('', ...notes);
  return out.join('\n');
}

function upgradeIdleTable(peers, results) {
  const lines = [
    '| peer | idle connections open | moved (`moved:` line) | answered after the upgrade, same TCP connection | closed during the upgrade | handover ms (target < 300) | command ms | RSS MB old generation → new generation |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const peer of peers) {
    const r = results[peer.id];
    if (!r) continue;
    if (r.status !== 'ok') {
      lines.push(`| ${peer.label} | ${statusCell(r)} | | | | | | |`);
      continue;
    }
    const up = r.upgrade;
    const upCell = up.ok ? fmt.n(up.ms) : `failed: exit ${up.code ?? up.signal} (${up.output})`;
    const target = r.handoverMs === null || r.handoverMs === undefined ? '—' : `${fmt.n(r.handoverMs)} ${r.handoverMs < r.handoverTargetMs ? '✓' : '✗'} (< ${r.handoverTargetMs})`;
    lines.push(
      `| ${peer.label} | ${fmt.n(r.opened)} / ${fmt.n(r.count)} | ${r.moved ?? '—'} | ${fmt.n(r.answered)}${r.failedAfter ? ` (${fmt.n(r.failedAfter)} failed: ${r.firstError})` : ''} | ${fmt.n(r.closedDuring)} | ${target} | ${upCell} | ${fmt.mb(r.rssBefore)} → ${fmt.mb(r.rssAfter)} |`,
    );
  }
  return lines.join('\n');
}

/** One line for the progress log. */
function upgradeSummary(scenario, r) {
  if (scenario.kind === 'upgrades') {
    const s = r.summary;
    const lat = r.during && r.steady ? `, p99 ${fmt.ms(r.during.p99)} ms during vs ${fmt.ms(r.steady.p99)} steady, max ${fmt.ms(r.during.max)} vs ${fmt.ms(r.steady.max)}` : '';
    return `upgrades ${upgradesText(r)}, failed requests ${r.http.failed}, socket errors ${socketErrors(r)}, reconnects ${r.reconnects}, bytes lost ${r.bytesLost}${lat}; command ${fmt.ms(s.commandMs.median)} ms median, handover ${fmt.ms(s.handoverMs.median)} ms median${r.stopReason ? ` (${r.stopReason})` : ''}`;
  }
  return `${r.moved ?? '—'} moved, ${r.answered}/${r.opened} answered on the same connection after the upgrade, handover ${r.handoverMs ?? '—'} ms (target < ${r.handoverTargetMs}), upgrade exit ${r.upgrade.code ?? r.upgrade.signal} in ${r.upgrade.ms} ms, RSS ${fmt.mb(r.rssBefore)} -> ${fmt.mb(r.rssAfter)} MB`;
}

/** The "Upgrades" part of the headline: one line per mosnd peer and upgrade scenario. */
function upgradeHeadline(run) {
  const lines = [];
  const ups = run.scenarios.find((s) => s.scenario.id === 'upgrades');
  const idle = run.scenarios.find((s) => s.scenario.id === 'upgrade-idle');
  for (const p of run.peers.filter((x) => x.isMosnd)) {
    const r = ups && ups.results[p.id];
    if (r && r.status === 'ok') {
      const s = r.summary;
      const sc = ups.scenario;
      const lat = r.during && r.steady ? `; p99 ${fmt.ms(r.during.p99)} ms during the upgrades vs ${fmt.ms(r.steady.p99)} ms steady, max ${fmt.ms(r.during.max)} vs ${fmt.ms(r.steady.max)} ms` : '';
      lines.push(
        `- ${p.label}, ${s.count} upgrades in a row under ${sc.conns} HTTP clients + ${sc.streams} TCP streams: **${s.ok} ok, ${s.failed} failed; ${fmt.n(r.http.failed)} failed requests, ${fmt.n(socketErrors(r))} socket errors, ${fmt.n(r.reconnects)} reconnects, ${fmt.n(r.bytesLost)} TCP bytes lost, ${fmt.n(r.tcp ? r.tcp.mismatches : 0)} mismatches**${lat}; from the command to the old generation's exit ${fmt.ms(s.oldExitMs.median)} ms median (p95 ${fmt.ms(s.oldExitMs.p95)}), handover ${fmt.ms(s.handoverMs.median)} ms median (max ${fmt.ms(s.handoverMs.max)}).`,
      );
      const bad = r.warmups.find((w) => !w.ok);
      if (bad) lines.push(`  A warm-up upgrade failed (exit ${bad.code ?? bad.signal}: ${bad.output}), so no upgrade was measured.`);
    } else if (r) lines.push(`- ${p.label}, upgrades: ${statusCell(r)}`);
    const i = idle && idle.results[p.id];
    if (i && i.status === 'ok') {
      lines.push(
        `- ${p.label}, ${fmt.n(i.opened)} idle keep-alive connections across one upgrade: **${i.moved ?? '—'} moved, ${fmt.n(i.answered)} answered on the same connection afterwards**; handover ${i.handoverMs ?? '—'} ms (target < ${i.handoverTargetMs} ms); new generation RSS ${fmt.mb(i.rssAfter)} MB.`,
      );
    } else if (i) lines.push(`- ${p.label}, upgrade-idle: ${statusCell(i)}`);
  }
  return lines.join('\n');
}

/** Metric value of one result for ratio purposes, or null. */
function metricOf(scenario, r, which) {
  if (!r || r.status !== 'ok') return null;
  if (which === 'throughput') return scenario.metric === 'MBps' ? r.wrk.bytesPerSec : r.wrk.rps;
  if (which === 'p99') return r.wrk.latencyMs.p99;
  if (which === 'cpu') return r.cpuPerReqUs;
  if (which === 'rss') return r.rssAfter;
  // Per-connection memory is a difference of two RSS samples; GC can make it <= 0 (no ratio then).
  if (which === 'perconn') return r.perConnKB > 0 ? r.perConnKB : null;
  return null;
}

const RATIO_GROUPS = [
  { which: 'throughput', kinds: ['load'], title: 'Throughput (req/s, or MB/s for 1 MB): subject ÷ reference, higher is better for the subject' },
  { which: 'p99', kinds: ['load'], title: 'p99 latency: subject ÷ reference, lower is better for the subject' },
  { which: 'cpu', kinds: ['load'], title: 'Proxy CPU time per request: subject ÷ reference, lower is better for the subject' },
  { which: 'rss', kinds: ['idle'], title: 'RSS with the idle connections open: subject ÷ reference, lower is better for the subject' },
  { which: 'perconn', kinds: ['idle'], title: 'Memory added per idle connection: subject ÷ reference, lower is better for the subject' },
];

function ratios(run) {
  const out = [];
  for (const g of RATIO_GROUPS) {
    for (const s of run.scenarios) {
      if (!g.kinds.includes(s.scenario.kind)) continue;
      for (const subject of SUBJECTS) {
        const sv = metricOf(s.scenario, s.results[subject], g.which);
        if (!sv) continue;
        for (const ref of REFERENCES) {
          if (ref === subject) continue;
          if (g.which === 'cpu' && ref === 'direct') continue;
          const rv = metricOf(s.scenario, s.results[ref], g.which);
          if (!rv) continue;
          out.push({ metric: g.which, scenario: s.scenario.id, subject, reference: ref, value: sv / rv });
        }
      }
    }
  }
  return out;
}

function ratioTables(list) {
  const parts = [];
  for (const g of RATIO_GROUPS) {
    const rows = list.filter((r) => r.metric === g.which);
    if (rows.length === 0) continue;
    const refs = REFERENCES.filter((ref) => rows.some((r) => r.reference === ref));
    const keys = [...new Set(rows.map((r) => `${r.scenario}|${r.subject}`))];
    const lines = [`**${g.title}**`, '', `| scenario: subject | ${refs.map((r) => `÷ ${r}`).join(' | ')} |`, `| --- |${' --- |'.repeat(refs.length)}`];
    for (const key of keys) {
      const [scenario, subject] = key.split('|');
      const cells = refs.map((ref) => {
        const r = rows.find((x) => x.scenario === scenario && x.subject === subject && x.reference === ref);
        return r ? fmt.ratio(r.value) : '';
      });
      const strong = subject.startsWith('mosnd') ? `**${scenario}: ${subject}**` : `${scenario}: ${subject}`;
      lines.push(`| ${strong} | ${cells.join(' | ')} |`);
    }
    parts.push(lines.join('\n'));
  }
  return parts.join('\n\n');
}

// Headline rows: scenario, metric, references, in the order the brief's claims need them.
const HEADLINES = [
  { scenario: 'small-64', which: 'throughput', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'HTTP small, 64 conns: req/s' },
  { scenario: 'small-256', which: 'throughput', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'HTTP small, 256 conns: req/s' },
  { scenario: 'small-1000', which: 'throughput', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'HTTP small, 1,000 conns: req/s' },
  { scenario: 'large-1m', which: 'throughput', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'HTTP 1 MB: MB/s' },
  { scenario: 'tcp-small-64', which: 'throughput', refs: ['node-pipe', 'nginx', 'haproxy'], label: 'TCP small, 64 conns: req/s' },
  { scenario: 'tcp-large-1m', which: 'throughput', refs: ['node-pipe', 'nginx', 'haproxy'], label: 'TCP 1 MB: MB/s' },
  { scenario: 'small-64', which: 'p99', refs: ['node-raw', 'nginx', 'http-proxy-3'], label: 'HTTP small, 64 conns: p99 latency' },
  { scenario: 'paced-64', which: 'p99', refs: ['node-raw', 'nginx', 'direct'], label: 'HTTP small, 64 conns paced to ≈10k req/s: p99 latency' },
  { scenario: 'small-64', which: 'cpu', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'HTTP small: CPU time per request' },
  { scenario: 'tcp-small-64', which: 'cpu', refs: ['node-pipe', 'nginx'], label: 'TCP small: CPU time per request' },
  { scenario: 'idle', which: 'rss', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'RSS with idle connections' },
  { scenario: 'idle', which: 'perconn', refs: ['node-raw', 'nginx', 'haproxy', 'http-proxy-3'], label: 'memory added per idle connection' },
];

const SHORT = { nginx: 'nginx', haproxy: 'HAProxy', 'node-raw': 'bare JS proxy', 'http-proxy-3': 'http-proxy-3', 'node-pipe': 'node pipe', direct: 'direct' };

function headline(run) {
  const mosnd = run.peers.filter((p) => p.isMosnd);
  if (mosnd.length === 0) return '';
  const lines = [
    `| measure (× = mosnd ÷ peer; higher is better for throughput, lower for the rest) | ${mosnd.map((p) => p.label).join(' | ')} |`,
    `| --- |${' --- |'.repeat(mosnd.length)}`,
  ];
  let any = false;
  for (const h of HEADLINES) {
    const s = run.scenarios.find((x) => x.scenario.id === h.scenario);
    if (!s) continue;
    const cells = mosnd.map((p) => {
      const r = s.results[p.id];
      if (!r) return '';
      if (r.status !== 'ok') return r.status;
      return h.refs
        .map((ref) => {
          const x = run.ratios.find((q) => q.metric === h.which && q.scenario === h.scenario && q.subject === p.id && q.reference === ref);
          return x ? `${fmt.ratio(x.value)}× ${SHORT[ref]}` : null;
        })
        .filter(Boolean)
        .join(', ');
    });
    if (cells.every((c) => !c)) continue;
    any = true;
    lines.push(`| ${h.label} | ${cells.join(' | ')} |`);
  }
  const unavailable = mosnd.map((p) => {
    const r = run.scenarios.map((s) => s.results[p.id]).find((x) => x && x.status !== 'ok');
    return r && r.status !== 'skipped' && !run.scenarios.some((s) => s.results[p.id] && s.results[p.id].status === 'ok') ? `- ${p.id}: ${statusCell(r)}` : null;
  }).filter(Boolean);
  return [any ? lines.join('\n') : '', ...unavailable].filter(Boolean).join('\n\n');
}

function markdown(run) {
  const m = run.meta;
  const out = [];
  out.push('# mosnd benchmark results', '');
  out.push(`- Date: ${m.date}`);
  out.push(`- Mode: ${m.mode}; warm-up ${m.warmupS} s then ${m.durationS} s measured per peer and scenario; ${m.idleConns} idle connections; ${m.upgrades} upgrades in a row`);
  out.push(`- CPU: ${m.cpu.model}, ${m.cpu.count} CPU(s) usable (${m.cpu.allowed.join(',')}); load average at start ${m.loadStart}, at end ${m.loadEnd}`);
  out.push(`- Pinning: ${m.pinning}`);
  out.push(`- Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  out.push(`- Open-file limit: ${m.nofile}; total run time ${m.elapsedS} s`);
  if (m.idleBusy) {
    out.push(`- CPU busy before the run, nothing of ours running: ${Object.entries(m.idleBusy).map(([c, v]) => `CPU ${c} ${v.toFixed(0)}%`).join(', ')} (other work on the machine; above a few % the figures are noisy)`);
  }
  if (m.notes.length) out.push(...m.notes.map((n) => `- Note: ${n}`));
  out.push('');
  out.push('Ratios come from this one run (same machine, same minute): compare those, not absolute figures between runs.', '');
  const head = headline(run);
  const ups = upgradeHeadline(run);
  if (head || ups) out.push('## Headline: mosnd against its peers', '');
  if (head) out.push(head, '');
  if (ups) out.push('### Upgrades', '', ups, '');
  out.push('## All ratios', '');
  const rt = ratioTables(run.ratios);
  out.push(rt || '(no ratio: too few peers measured)', '');
  for (const s of run.scenarios) {
    const sc = s.scenario;
    out.push(`## ${sc.id}: ${sc.title}`, '');
    if (s.skipped) {
      out.push(`Skipped: ${s.skipped}`, '');
      continue;
    }
    if (sc.kind === 'load') out.push(loadTable(sc, run.peers, s.results));
    else if (sc.kind === 'idle') out.push(idleTable(run.peers, s.results));
    else if (sc.kind === 'upgrades') out.push(upgradesTables(run.peers, s.results));
    else out.push(upgradeIdleTable(run.peers, s.results));
    out.push('');
  }
  out.push('† mosnd with 2 workers runs on two CPUs, one of them shared with the load generator and the backend; every other proxy runs with one worker on its own CPU.');
  out.push('');
  return out.join('\n');
}

function json(run) {
  return {
    meta: run.meta,
    scenarios: run.scenarios.map((s) => ({
      id: s.scenario.id,
      title: s.scenario.title,
      kind: s.scenario.kind,
      mode: s.scenario.mode,
      conns: s.scenario.conns,
      skipped: s.skipped || null,
      results: s.results,
    })),
    ratios: run.ratios,
  };
}

module.exports = { markdown, json, ratios, upgradeSummary };
