import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.ts';
import { assertChannel } from '../sse/names.ts';

export interface Subscription {
  readonly channels: readonly string[];
  /** From the Last-Event-ID header, or the `lastEventId` query parameter; undefined for a fresh start. */
  readonly lastEventId: string | undefined;
}

/**
 * Reads what a stream request asks for: `<base>/<channel>` and/or `?channel=a&channel=b`,
 * deduplicated in order. Refuses, with a message, anything that is not a valid channel list.
 */
export function parseSubscription(url: URL, headers: IncomingHttpHeaders, basePath: string, maxChannels: number): Subscription {
  const channels: string[] = [];
  if (url.pathname.length > basePath.length) {
    let fromPath: string;
    try {
      fromPath = decodeURIComponent(url.pathname.slice(basePath.length + 1));
    } catch {
      throw new GatewayError('SSEG_BAD_CHANNEL', 'the channel in the path is not valid percent-encoding');
    }
    assertChannel(fromPath, 'channel');
    channels.push(fromPath);
  }
  const fromQuery = url.searchParams.getAll('channel');
  if (fromQuery.length + channels.length > maxChannels) {
    throw new GatewayError('SSEG_TOO_MANY_CHANNELS', `a stream may subscribe to at most ${maxChannels} channels`);
  }
  for (const channel of fromQuery) {
    assertChannel(channel, 'channel');
    if (!channels.includes(channel)) channels.push(channel);
  }
  if (channels.length === 0) {
    throw new GatewayError('SSEG_BAD_CHANNEL', `no channel given: use ${basePath}/<channel> or ${basePath}?channel=<a>&channel=<b>`);
  }
  // The header wins: on reconnect the browser sends its newest id there, while the URL still carries the page's original one.
  const header = headers['last-event-id'];
  const lastEventId = typeof header === 'string' && header !== '' ? header : url.searchParams.get('lastEventId') || undefined;
  return { channels, lastEventId };
}
