/**
 * Answers written straight to a socket when there is no request object to answer through: Node
 * could not parse the request, or the front door refused a head. Built once; JSON like every
 * other error, and the connection closes after them.
 */
function rawError(status: string, code: string, message: string): string {
  const body = JSON.stringify({ error: code, message });
  return `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export const HEADERS_TOO_LARGE = rawError(
  '431 Request Header Fields Too Large',
  'SSEG_HEADERS_TOO_LARGE',
  'request headers (cookies, Last-Event-ID, ...) are too large',
);
export const BAD_REQUEST = rawError('400 Bad Request', 'SSEG_BAD_QUERY', 'the request cannot be parsed as HTTP');
