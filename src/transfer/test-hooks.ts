/**
 * Test hook, and only that: `MOSND_TEST_KILL_AT=<role>:<step>` makes the process that reaches
 * that step of an upgrade SIGKILL itself there, so that test/upgrade-kill-matrix.test.js can
 * kill at an exact point of the protocol however fast or slow the machine is. Unset (always,
 * outside tests) it costs one environment lookup per step.
 *
 * Steps: new-master:hello (hello sent), new-master:listeners (listeners received),
 * new-master:ready (ready sent), new-master:serving (serving sent, after commit),
 * old-worker:acked (ack received, released not sent), old-worker:released (a batch moved), new-worker:conns (a batch received, not acknowledged).
 */
export function testKillPoint(step: string): void {
  if (process.env.MOSND_TEST_KILL_AT === step) process.kill(process.pid, 'SIGKILL');
}
