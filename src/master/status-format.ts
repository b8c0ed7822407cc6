/** `mosnd status` as a table, pm2-style: one row per process, then the listeners. */
import type { StatusReply } from '../shared/control-types';

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)}G`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)}M`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)}K`;
  return `${n}B`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function formatStatusTable(st: StatusReply): string {
  const rows = [['ROLE', 'ID', 'GEN', 'PID', 'STATE', 'UPTIME', 'RESTARTS', 'CPU', 'MEM', 'CONNS', 'H2-SESS/STREAMS', 'REQ/S']];
  for (const p of st.processes) {
    rows.push([
      p.role,
      String(p.workerId),
      String(p.generation),
      String(p.pid),
      p.state,
      duration(p.uptimeMs),
      String(p.restarts),
      `${p.cpu.toFixed(1)}%`,
      bytes(p.memory),
      p.role === 'master' ? '-' : String(p.connections),
      p.role === 'master' ? '-' : `${p.h2Sessions ?? 0}/${p.h2Streams ?? 0}`,
      p.role === 'master' ? '-' : p.rps.toFixed(1),
    ]);
  }
  const lrows = [['LISTENER', 'ADDRESS', 'PROTOCOL']];
  for (const l of st.listeners) lrows.push([l.name, l.address, l.protocol]);
  const up = st.lastUpgrade;
  const upgrade =
    up.result === 'none'
      ? 'none'
      : `${up.result}, generation ${up.fromGeneration} -> ${up.toGeneration} at ${new Date(up.atMs).toISOString()} (${up.message})`;
  const endpoints: string[] = [];
  if (st.adminAddress) endpoints.push(`admin http://${st.adminAddress}/`);
  if (st.metricsAddress) endpoints.push(`metrics http://${st.metricsAddress}/metrics`);
  const draining = st.processes.filter((p) => p.generation !== st.generation).length;
  const note = draining > 0 ? `\n(${draining} process${draining === 1 ? '' : 'es'} of an older generation still draining)` : '';
  return (
    `mosnd ${st.version}  generation ${st.generation}  ${st.state}  config ${st.configSource}\n\n` +
    `${table(rows)}${note}\n\n${table(lrows)}\n\n` +
    (endpoints.length ? `${endpoints.join('  ')}\n` : '') +
    `last upgrade: ${upgrade}\n` +
    controlPlane(st)
  );
}

/** xDS: the control plane and each subscribed type's last ACK / NACK. */
function controlPlane(st: StatusReply): string {
  const cp = st.controlPlane;
  if (!cp) return '';
  const at = (ms: number) => (ms ? new Date(ms).toISOString() : '-');
  const rows = [['XDS TYPE', 'VERSION', 'RESOURCES', 'LAST ACK', 'LAST NACK']];
  for (const t of cp.types.filter((x) => x.subscribed)) {
    rows.push([t.type, t.version || '-', String(t.resources), t.ackAtMs ? `${t.ackVersion} at ${at(t.ackAtMs)}` : '-', t.nackAtMs ? `${t.nackVersion} at ${at(t.nackAtMs)}: ${t.nackError}` : '-']);
  }
  return `\ncontrol plane: ${cp.server} (node ${cp.node}) ${cp.connected ? 'connected' : 'DISCONNECTED'}\n${table(rows)}\n`;
}
