// The e2e stand-in for nginx: serves the production build (with the single-page fallback) and the
// uploads, and proxies /api/ and /socket.io/ (websocket upgrades too) to gunicorn, all on one origin.
import http from 'node:http';

import httpProxy from 'http-proxy';
import sirv from 'sirv';

/**
 * Starts the front server on 127.0.0.1:`port` (0 picks a free one) and resolves to the server
 * and its base URL.
 * @param {{ buildDir: string, uploadDir: string, uploadPrefix: string, upstream: string, port?: number }} options
 * @returns {Promise<{ server: http.Server, url: string }>}
 */
export function startFrontServer({ buildDir, uploadDir, uploadPrefix, upstream, port = 0 }) {
  const proxy = httpProxy.createProxyServer({
    target: upstream,
    ws: true,
    xfwd: true,
    // As nginx's `X-Forwarded-Proto $scheme`: http-proxy would say "ws" on upgrades, and the server's
    // ProxyFix would then make Socket.IO's same-origin check compare against ws://, refusing the socket.
    headers: { 'x-forwarded-proto': 'http' },
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
    } else if (url.startsWith(uploadPrefix)) {
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
