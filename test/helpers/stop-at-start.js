'use strict';
/**
 * Loaded into every worker with `--require` (through MOSND_WORKER_NODE_ARGS, the master's
 * debugging knob): while the file named by MOSND_TEST_STOP_FILE exists, a worker that starts
 * stops itself with SIGSTOP before any mosnd code runs. A worker wedged in its start, at the
 * moment a test chooses, with no race against its `ready` message.
 */
const fs = require('node:fs');

const file = process.env.MOSND_TEST_STOP_FILE;
if (file && fs.existsSync(file)) process.kill(process.pid, 'SIGSTOP');
