'use strict';
/**
 * A second, independent HTTP/2 client: curl (libcurl + nghttp2) with prior knowledge, and with
 * HTTP/1.1 on the same Auto port. Skipped when curl is absent or built without HTTP/2.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, execFile } = require('node:child_process');
const h = require('./helpers/mosnd');

function curlHasHttp2() {
  try {
    return /^Features:.*\bHTTP2\b/m.test(execFileSync('curl', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

function curl(args) {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'latin1', maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

test('curl speaks HTTP/2 (prior knowledge) and HTTP/1.1 to one Auto listener, bodies and trailers included', { skip: curlHasHttp2() ? false : 'curl without HTTP/2' }, async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    let n = 0;
    req.on('data', (d) => (n += d.length));
    req.on('end', () => {
      if (req.url.startsWith('/plain')) {
        res.write('chunked, '); // no Content-Length: chunked, and no trailers
        res.end('no trailers');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
      res.write(`${req.method} ${req.url} got ${n}`);
      res.addTrailers({ 'x-sum': String(n) });
      res.end();
    });
  });
  t.after(() => up.close());
  const l = h.httpListener('auto', 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = 'Auto';
  l.filter_chains[0].filters[0].config.upstream_protocol = 'Http1'; // HTTP/1.1 upstreams (unset would follow the clients: HTTP/2)
  const m = await h.startMosnd({
    config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [up.address])], listeners: [l] }),
  });
  t.after(() => m.kill());
  const url = `http://127.0.0.1:${m.ports.auto}/c?x=1`;
  const file = require('node:path').join(h.tmpDir(), 'body');
  require('node:fs').writeFileSync(file, 'b'.repeat(300_000));

  const two = await curl(['--http2-prior-knowledge', '-i', '--data-binary', `@${file}`, url]);
  assert.match(two, /^HTTP\/2 200/);
  // curl prints the HTTP/2 trailers after the body.
  assert.match(two, /POST \/c\?x=1 got 300000x-sum: 300000\r\n$/);

  // A chunked answer without trailers ends with an empty trailer section, which curl accepts.
  const plain = await curl(['--http2-prior-knowledge', '-i', `http://127.0.0.1:${m.ports.auto}/plain`]);
  assert.match(plain, /^HTTP\/2 200/);
  assert.match(plain, /\r\n\r\nchunked, no trailers$/);

  const one = await curl(['--http1.1', '-i', url]);
  assert.match(one, /^HTTP\/1\.1 200/);
  assert.match(one, /GET \/c\?x=1 got 0/);
});
