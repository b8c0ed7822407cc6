'use strict';
// Peer "direct": no proxy, the load generator talks to the backend. The ceiling of this machine's
// load side (wrk + backend on the load CPU), against which every proxy's cost shows.

module.exports = {
  id: 'direct',
  label: 'direct (no proxy)',
  isProxy: false,
  http: true,
  tcp: true,
  async start(ctx) {
    return { httpPort: ctx.backend.port, tcpPort: ctx.backend.port, proc: null, tag: null };
  },
  async stop() {},
};
