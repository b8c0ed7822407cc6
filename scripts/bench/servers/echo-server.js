'use strict';
// TCP echo server behind mosnd's tcp_proxy listener in the upgrade scenarios: the project's own
// test echo server (test/helpers/mosnd.js), run in its own process on the load CPU. It reports
// its port over IPC and exits when the harness disconnects.
//
// Messages out: {event:'listening', port}

const path = require('node:path');
const { startEchoServer } = require(path.join(__dirname, '..', '..', '..', 'test', 'helpers', 'mosnd.js'));

startEchoServer().then((echo) => {
  process.send({ event: 'listening', port: echo.port });
  process.on('disconnect', () => echo.close().finally(() => process.exit(0)));
});
