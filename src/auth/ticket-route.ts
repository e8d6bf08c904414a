import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http/reply.ts';
import { parseJsonBody } from '../ingress/webhook.ts';
import type { PublisherAuth } from './publisher.ts';
import type { TicketAuthenticator } from './ticket.ts';

/** A ticket request is a body, at most: `{"subject", "channels", "ttl"?}`. */
const TICKET_BODY_BYTES = 16 * 1024;

/** `POST /tickets`: the app, authorized as a publisher, asks for a single-use ticket for a browser. */
export function issueTickets(tickets: TicketAuthenticator, publishers: PublisherAuth): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const authorized = await publishers.readAuthorized(request, TICKET_BODY_BYTES);
    // A ticket refused as full was not issued: the app's retry of the same signed request must pass.
    const ticket = await tickets.issue(parseJsonBody(authorized.body)).catch(async (error: unknown) => {
      await publishers.release(authorized);
      throw error;
    });
    sendJson(response, 200, ticket);
  };
}
