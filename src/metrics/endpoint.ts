import type { IncomingMessage, ServerResponse } from 'node:http';

/** `GET /metrics`: the exposition text, from this process's registry or (a cluster worker) every worker's. */
export function serveMetrics(text: () => Promise<string>, contentType: string): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (_request, response) => {
    const body = await text();
    response.writeHead(200, { 'Content-Type': contentType });
    response.end(body);
  };
}
