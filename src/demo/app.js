// The demo page's script: plain browser JavaScript, no build step. Event data is only ever
// inserted with textContent, so whatever anyone publishes is shown as text, never run as HTML.
/* global document, fetch, location, setTimeout, TextDecoderStream */
'use strict';

const streamsPath = document.querySelector('meta[name="sseg-streams"]').content;
const streamUrl = `${streamsPath}/demo`;
const list = document.getElementById('events');
const status = document.getElementById('status');
const form = document.getElementById('publish');
const input = document.getElementById('message');
const errorLine = document.getElementById('publish-error');
const MAX_SHOWN = 50;

document.getElementById('stream-url').textContent = `GET ${streamUrl}`;
document.getElementById('curl').textContent =
  `curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\\n` +
  `     -d '{"channel":"demo","data":"hello from curl"}' ${location.origin}/publish`;

function setStatus(text, state) {
  status.textContent = text;
  status.className = `status ${state}`;
}

function show(id, text, kind) {
  const item = document.createElement('li');
  if (kind) item.className = kind;
  const idSpan = document.createElement('span');
  idSpan.className = 'id';
  idSpan.textContent = id || '';
  const dataSpan = document.createElement('span');
  dataSpan.className = 'data';
  dataSpan.textContent = text;
  item.append(idSpan, dataSpan);
  list.prepend(item);
  while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
}

// Why not EventSource: it hands a named event (`event: greeting`) only to a listener registered
// for that very name, and a demo cannot know the names an app will publish. So the page reads the
// stream with fetch and does what EventSource does: parse the fields, keep the last id, reconnect
// after `retry:` with Last-Event-ID, so a gateway restart shows as a short "reconnecting" and then
// a gap event, never as silently missing messages. Your own pages should simply use EventSource.
let lastEventId = '';
let retryMs = 3000;

function dispatch(id, name, data) {
  if (name === 'gap') {
    let message = 'some events were missed';
    try {
      message = JSON.parse(data).message;
    } catch {
      // keep the generic text
    }
    show(id, `gap: ${message}`, 'gap');
  } else {
    show(id, name === 'message' ? data : `${name}: ${data}`);
  }
}

async function follow() {
  for (;;) {
    try {
      const headers = { Accept: 'text/event-stream' };
      if (lastEventId !== '') headers['Last-Event-ID'] = lastEventId;
      const response = await fetch(streamUrl, { headers, cache: 'no-store' });
      if (!response.ok || response.body === null) throw new Error(`status ${response.status}`);
      setStatus('live', 'open');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let name = '';
      let data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (line === '') {
            if (data.length > 0) dispatch(lastEventId, name || 'message', data.join('\n'));
            name = '';
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          let text = colon === -1 ? '' : line.slice(colon + 1);
          if (text.startsWith(' ')) text = text.slice(1);
          if (field === 'data') data.push(text);
          else if (field === 'event') name = text;
          else if (field === 'id' && !text.includes('\0')) lastEventId = text;
          else if (field === 'retry' && /^\d+$/.test(text)) retryMs = Number(text);
        }
      }
    } catch {
      // fall through to reconnect
    }
    setStatus('reconnecting…', 'closed');
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

void follow();

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  errorLine.textContent = '';
  const data = input.value;
  try {
    const response = await fetch('/demo/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ data }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      errorLine.textContent = body.message || `publish failed (${response.status})`;
      return;
    }
    input.value = '';
    input.focus();
  } catch {
    errorLine.textContent = 'the gateway is not reachable';
  }
});
