'use strict';
/** HTTP/2 test clients: Node's own http2 client (nghttp2), cleartext with prior knowledge. */
const http2 = require('node:http2');

/** Opens an h2c session to 127.0.0.1:port (`options` of http2.connect); closed when the test ends. */
function connect(t, port, options = {}) {
  const session = http2.connect(`http://127.0.0.1:${port}`, options);
  session.on('error', () => {});
  t?.after(() => session.destroy());
  return session;
}

/**
 * One request on `session`: resolves { status, headers, body (Buffer), trailers } when the
 * response ends, or rejects on a stream error. `body` (Buffer/string) is sent, then
 * `trailers` if given.
 */
function request(session, headers, { body, trailers, timeoutMs = 20_000 } = {}) {
  return new Promise((resolve, reject) => {
    const end = body === undefined && trailers === undefined;
    const req = session.request({ ':method': 'GET', ':path': '/', ...headers }, { endStream: end, waitForTrailers: trailers !== undefined });
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error('http2 request timed out'));
    }, timeoutMs);
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    const out = { status: 0, headers: null, body: null, trailers: null, stream: req };
    const chunks = [];
    req.on('response', (h) => {
      out.status = h[':status'];
      out.headers = h;
    });
    req.on('trailers', (tr) => (out.trailers = tr));
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      clearTimeout(timer);
      out.body = Buffer.concat(chunks);
      resolve(out);
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (!end) {
      if (body !== undefined) req.write(body);
      req.end();
    }
  });
}

module.exports = { connect, request, http2 };
