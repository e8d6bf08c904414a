import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * A stand-in for your application, for docker-compose.yml: it serves a page that subscribes to
 * the gateway, and publishes to the gateway from its own server side when the page's button is
 * pressed. The publish token stays on the server; the browser never sees it.
 *
 *   PORT           where this app listens (default 3000)
 *   GATEWAY_URL    the gateway as the app reaches it directly, e.g. http://gateway:8080
 *   PUBLISH_TOKEN  one of the gateway's publish.tokens
 *   CHANNEL        the channel the page shows (default demo)
 */
const port = Number(process.env['PORT'] ?? 3000);
const gatewayUrl = process.env['GATEWAY_URL'] ?? 'http://127.0.0.1:8080';
const token = process.env['PUBLISH_TOKEN'] ?? '';
const channel = process.env['CHANNEL'] ?? 'demo';

const page = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>sse-gateway demo</title>
<style>body { font: 16px system-ui, sans-serif; margin: 2rem; } li { font-family: ui-monospace, monospace; }</style>
<h1>sse-gateway demo</h1>
<p>This page subscribes to <code>/events/${channel}</code> through the gateway. The button asks this app's server to publish.</p>
<p><input id="text" value="hello" aria-label="message"> <button id="send">Publish</button> <span id="state">connecting</span></p>
<ol id="log"></ol>
<script>
  const log = document.getElementById('log');
  const state = document.getElementById('state');
  // Same origin: nginx sends /events to the gateway and this page to the app.
  const source = new EventSource('/events/${channel}');
  source.onopen = () => { state.textContent = 'connected'; };
  source.onerror = () => { state.textContent = 'reconnecting'; };
  source.onmessage = (event) => {
    const item = document.createElement('li');
    item.textContent = event.lastEventId + ' ' + event.data;
    log.append(item);
  };
  document.getElementById('send').onclick = () => {
    fetch('/send', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: document.getElementById('text').value }) });
  };
</script>
</html>
`;

async function send(request: IncomingMessage, response: ServerResponse): Promise<void> {
  let body = '';
  for await (const chunk of request) {
    body += String(chunk);
    if (body.length > 10_000) {
      response.writeHead(413).end();
      return;
    }
  }
  let text: string;
  try {
    const parsed = (JSON.parse(body) as { text?: unknown }).text;
    text = typeof parsed === 'string' ? parsed.slice(0, 500) : '';
  } catch {
    response.writeHead(400).end();
    return;
  }
  const published = await fetch(new URL('/publish', gatewayUrl), {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data: { text, at: new Date().toISOString() } }),
  });
  response.writeHead(published.ok ? 200 : 502, { 'Content-Type': 'application/json' });
  response.end(await published.text());
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && (request.url === '/' || request.url === '/index.html')) {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(page);
  } else if (request.method === 'POST' && request.url === '/send') {
    send(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(502);
      response.end();
    });
  } else {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }
});

server.listen(port, () => {
  const address = server.address();
  process.stdout.write(`demo app listening on port ${typeof address === 'object' && address ? address.port : port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.close(() => process.exit(0)));
