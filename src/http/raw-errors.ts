import { GatewayError } from '../errors.ts';
import { errorBytes } from './reply.ts';

/**
 * Answers for a socket with no request object to answer through (node:http could not parse the
 * request, or a client closed mid-head): built once, by the one error writer (reply.ts).
 */
export const HEADERS_TOO_LARGE = errorBytes(new GatewayError('SSEG_HEADERS_TOO_LARGE', 'request headers (cookies, Last-Event-ID, ...) are too large'));
export const BAD_REQUEST = errorBytes(new GatewayError('SSEG_BAD_QUERY', 'the request cannot be parsed as HTTP'));
