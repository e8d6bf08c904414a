import { readFileSync } from 'node:fs';
import type { RedisClient } from '../../redis/connect.ts';
import type { RedisKeys } from '../../redis/keys.ts';
import type { HistoryBounds } from '../bounds.ts';
import type { EventInput } from '../history.ts';

/**
 * The log's Lua scripts, and the one place that knows their KEYS/ARGV layout (each .lua file's
 * header documents it). Every change to the log's keys happens in one of them, atomically: Redis
 * runs one script at a time, which is what makes one counter, exact gaps and the epoch's
 * compare-and-set hold across instances.
 */

const lua = (name: string): string => readFileSync(new URL(`./${name}.lua`, import.meta.url), 'utf8');
/** Shared functions, prepended to the scripts that use them: Lua scripts cannot import. */
const CLOCK_LUA = lua('clock');
/** The epoch rule every script that reads or moves the log's position shares (see epoch.lua). */
const EPOCH_LUA = lua('epoch');
const CHANNELS_LUA = lua('channels');
const APPEND_LUA = [CLOCK_LUA, EPOCH_LUA, CHANNELS_LUA, lua('append')].join('\n');
const REPLAY_LUA = [CLOCK_LUA, EPOCH_LUA, CHANNELS_LUA, lua('replay')].join('\n');
const CHECK_LUA = [EPOCH_LUA, CHANNELS_LUA, lua('check')].join('\n');
const SWEEP_LUA = [CLOCK_LUA, CHANNELS_LUA, lua('sweep')].join('\n');
const FORGET_LUA = lua('forget');
/** Redis TIME on the log's own node (in Cluster, the {log} shard's clock is the one append.lua reads). */
const TIME_LUA = "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000)";

/** What a script that may start an epoch is told of this process's knowledge (epoch.lua). */
export interface EpochOffer {
  /** Taken if the log has no epoch, or a new one must start. */
  readonly candidate: string;
  /** The epoch this process follows, '' if none yet. */
  readonly known: string;
  /** The highest seq this process saw under `known`: a log behind it went back. */
  readonly seen: number;
}

/** One event for the append script, with its source entry id ('' unless the Redis Streams ingress read it). */
export interface SourcedEvent {
  readonly sourceId: string;
  readonly input: EventInput;
}

/** { epoch, Redis TIME ms, seq of each appended event... } */
export type AppendReply = [string, number, ...number[]];
export type StreamEntry = [string, string[]];
export type ReplayReply = [string, number, number, number[], StreamEntry[][], number];
export type CheckReply = [string, number, '' | 'back' | 'empty'];

/** The last notification an instance heard under its epoch: seq, channel and Redis time name one event. */
export interface HeardEvent {
  readonly seq: number;
  readonly channel: string;
  readonly time: number;
}

interface ScriptedClient {
  sseAppend(...args: Array<string | number>): Promise<AppendReply>;
  sseReplay(...args: Array<string | number>): Promise<ReplayReply>;
  sseCheck(...args: Array<string | number>): Promise<CheckReply>;
  sseSweep(...args: Array<string | number>): Promise<[number, number]>;
  sseForget(...args: Array<string | number>): Promise<number>;
  sseTime(...args: Array<string | number>): Promise<number>;
}

export class LogScripts {
  private readonly client: ScriptedClient;
  private readonly keys: RedisKeys;
  private readonly bounds: HistoryBounds;
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';

  constructor(client: RedisClient, keys: RedisKeys, bounds: HistoryBounds, publishCommand: 'PUBLISH' | 'SPUBLISH') {
    client.defineCommand('sseAppend', { lua: APPEND_LUA });
    client.defineCommand('sseReplay', { lua: REPLAY_LUA });
    client.defineCommand('sseCheck', { lua: CHECK_LUA });
    client.defineCommand('sseSweep', { lua: SWEEP_LUA });
    client.defineCommand('sseForget', { lua: FORGET_LUA });
    client.defineCommand('sseTime', { lua: TIME_LUA });
    this.client = client as unknown as ScriptedClient;
    this.keys = keys;
    this.bounds = bounds;
    this.publishCommand = publishCommand;
  }

  /**
   * append.lua: `sourceKey` '' for events with no source (every ingress but Redis Streams);
   * `deadline` the Redis-clock ms after which it must store nothing (deadline.ts), '' for none.
   */
  append(offer: EpochOffer, events: readonly SourcedEvent[], sourceKey: string, deadline: number | ''): Promise<AppendReply> {
    const args: Array<string | number> = [];
    const keys: string[] = [];
    for (const { sourceId, input } of events) {
      keys.push(this.keys.stream(input.channel));
      args.push(input.channel, input.event ?? '', input.data, sourceId);
    }
    return this.client.sseAppend(
      4 + keys.length,
      this.keys.meta,
      this.keys.trimmed,
      this.keys.sources,
      this.keys.channels,
      ...keys,
      offer.candidate,
      offer.known,
      offer.seen,
      this.bounds.maxEvents,
      this.bounds.maxAgeMs,
      this.keys.notify,
      this.publishCommand,
      sourceKey,
      this.bounds.maxChannels,
      this.keys.streamPrefix,
      this.now(),
      deadline,
      ...args,
    );
  }

  /** replay.lua: `after` -1 reads no entries (the cursor did not parse). */
  replay(offer: EpochOffer, channels: readonly string[], cursorEpoch: string, after: number): Promise<ReplayReply> {
    return this.client.sseReplay(
      2 + channels.length,
      this.keys.meta,
      this.keys.trimmed,
      ...channels.map((channel) => this.keys.stream(channel)),
      offer.candidate,
      offer.known,
      offer.seen,
      cursorEpoch,
      after,
      this.bounds.maxEvents,
      this.now(),
      ...channels,
    );
  }

  /** check.lua: with `rewound`, the caller already saw that epoch go back and it is replaced if still current. */
  check(offer: EpochOffer, heard: HeardEvent | undefined, rewound: boolean): Promise<CheckReply> {
    return this.client.sseCheck(
      3,
      this.keys.meta,
      this.keys.trimmed,
      heard ? this.keys.stream(heard.channel) : this.keys.meta,
      offer.candidate,
      offer.known,
      offer.seen,
      heard ? heard.seq : '',
      heard ? heard.channel : '',
      heard ? heard.time : 0,
      rewound ? '1' : '0',
    );
  }

  /** sweep.lua on one stream: [entries removed by age, streams evicted beyond maxChannels]. */
  sweep(streamKey: string): Promise<[number, number]> {
    return this.client.sseSweep(
      3,
      this.keys.trimmed,
      streamKey,
      this.keys.channels,
      this.keys.channelOf(streamKey),
      this.bounds.maxAgeMs,
      this.now(),
      this.bounds.maxChannels,
      this.keys.streamPrefix,
    );
  }

  /** forget.lua: removes at most `limit` of these channels' marks, those whose stream is gone. */
  forget(channels: readonly string[], limit: number): Promise<number> {
    return this.client.sseForget(
      2 + channels.length,
      this.keys.meta,
      this.keys.trimmed,
      ...channels.map((channel) => this.keys.stream(channel)),
      limit,
      ...channels,
    );
  }

  /** Redis TIME in ms, read on the node holding the log's keys. */
  time(): Promise<number> {
    return this.client.sseTime(1, this.keys.meta).then(Number);
  }

  /** The injected clock's time, or '' for the scripts to read Redis TIME. */
  private now(): number | '' {
    return this.bounds.now === undefined ? '' : this.bounds.now();
  }
}
