// The e2e stand-in for nginx: serves the production build (with the single-page fallback) and the
// uploads, and proxies /api/ and /socket.io/ (websocket upgrades too) to gunicorn, all on one origin.
// Like nginx it gives every response the site's security headers (`securityHeaders`, from
// `python -m app.render security-headers`: the values nginx's templates are rendered with), except where the
// upstream sent its own (the API's tighter policy).
import http from 'node:http';

import httpProxy from 'http-proxy';
import sirv from 'sirv';

/**
 * Starts the front server on 127.0.0.1:`port` (0 picks a free one) and resolves to the server
 * and its base URL.
 * @param {{ buildDir: string, uploadDir: string, uploadPrefix: string, upstream: string,
 *           securityHeaders: Record<string, string>, port?: number }} options
 * @returns {Promise<{ server: http.Server, url: string }>}
 */
export function startFrontServer({ buildDir, uploadDir, uploadPrefix, upstream, securityHeaders, port = 0 }) {
  const proxy = httpProxy.createProxyServer({
    target: upstream,
    ws: true,
    xfwd: true,
    // As nginx's `X-Forwarded-Proto $scheme`: http-proxy would say "ws" on upgrades, and the server's
    // ProxyFix would then make Socket.IO's same-origin check compare against ws://, refusing the socket.
    headers: { 'x-forwarded-proto': 'http' },
  });
  // nginx's maps: a header the upstream sent is kept as it is, a missing one gets the site's value.
  proxy.on('proxyRes', (upstreamResponse) => {
    for (const [name, value] of Object.entries(securityHeaders)) {
      upstreamResponse.headers[name.toLowerCase()] ??= value;
    }
  });
  proxy.on('error', (error, _request, response) => {
    // A socket (websocket) has no writeHead; a half-answered response cannot be answered again.
    if (response && 'writeHead' in response && !response.headersSent) {
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ msg: `proxy: ${error.message}` }));
    } else {
      response?.destroy?.();
    }
  });
  const app = sirv(buildDir, { single: true, dev: false, etag: true });
  const uploads = sirv(uploadDir, { dev: true });
  const isBackend = (url = '') => url.startsWith('/api/') || url.startsWith('/socket.io/');

  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    if (isBackend(url)) {
      proxy.web(request, response);
      return;
    }
    for (const [name, value] of Object.entries(securityHeaders)) {
      response.setHeader(name, value);
    }
    if (url.startsWith(uploadPrefix)) {
      request.url = url.slice(uploadPrefix.length - 1);
      uploads(request, response, () => {
        response.writeHead(404).end();
      });
    } else {
      app(request, response);
    }
  });
  server.on('upgrade', (request, socket, head) => {
    if (isBackend(request.url)) {
      proxy.ws(request, socket, head);
    } else {
      socket.destroy();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${address.port}` });
    });
  });
}
