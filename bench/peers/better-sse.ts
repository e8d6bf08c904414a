/**
 * The plain-Node baseline: better-sse's sessions and channels on node:http, with the same
 * contract as the gateway (GET /events/<channel>, POST /publish {channel, data} with a bearer
 * token, answer {id}). better-sse keeps no history, so there is no resume by Last-Event-ID:
 * the bench reports what a client misses across a reconnect instead.
 *
 * Run: node bench/peers/better-sse.ts --port N --heartbeat 2000 --token T
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { createChannel, createSession, type Channel } from 'better-sse';

const { values } = parseArgs({
  options: { port: { type: 'string' }, heartbeat: { type: 'string', default: '15000' }, token: { type: 'string' } },
});
const port = Number(values.port);
const keepAlive = Number(values.heartbeat);
const expectedAuthorization = `Bearer ${values.token ?? ''}`;

const channels = new Map<string, Channel>();
let seq = 0;

function channelFor(name: string): Channel {
  let channel = channels.get(name);
  if (channel === undefined) {
    channel = createChannel();
    channels.set(name, channel);
  }
  return channel;
}

async function subscribe(request: IncomingMessage, response: ServerResponse, name: string): Promise<void> {
  // String serializer: data goes out as published, like the other peers, not JSON-quoted.
  const session = await createSession(request, response, { keepAlive, retry: 3000, serializer: String });
  channelFor(name).register(session);
}

async function publish(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.headers.authorization !== expectedAuthorization) {
    response.writeHead(401).end();
    return;
  }
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { channel: string; data: string };
  const id = String(++seq);
  channels.get(body.channel)?.broadcast(body.data, 'message', { eventId: id });
  response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id }));
}

const server = createServer((request, response) => {
  const path = request.url?.split('?')[0] ?? '';
  const handled =
    request.method === 'GET' && path.startsWith('/events/')
      ? subscribe(request, response, decodeURIComponent(path.slice('/events/'.length)))
      : request.method === 'POST' && path === '/publish'
        ? publish(request, response)
        : Promise.resolve(void response.writeHead(404).end());
  handled.catch(() => response.destroy());
});
server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
