import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { RedisClient } from './connect.ts';

/** Renews the lease only if this instance still holds it: a lapsed leader never extends another's lease. */
const RENEW_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/** Hands the lease over at once rather than after its TTL: deleted only if it is still ours. */
const RELEASE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

export interface LeaderLeaseOptions {
  readonly client: RedisClient;
  readonly key: string;
  readonly ttlMs: number;
  readonly logger: Logger;
  /** This instance now holds the lease: start the work only one instance may do. */
  readonly onAcquired: () => Promise<void>;
  /** It may no longer hold it (another instance took over, or renewing failed in time): stop that work. */
  readonly onLost: (why: string) => Promise<void>;
  /** A lease command failed (counted by the caller; the lease is tried again at the next tick). */
  readonly onCommandFailed: (error: unknown) => void;
}

/**
 * One instance at a time, through a key in Redis: SET NX PX to take it, renewed at a third of
 * its TTL by a script that checks the holder. The holder stops a third of the TTL before its
 * lease would lapse unless a renewal moved it, measured from before the command that set it was
 * sent: the margin covers clock rate drift and a renewal that hangs, so the next holder never
 * starts while this one still works. Redis keeps the truth; nothing is agreed between instances.
 */
export class LeaderLease {
  private readonly options: LeaderLeaseOptions;
  private readonly token = randomBytes(12).toString('base64url');
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the lease might be about to lapse without a renewal: independent of how long a renewal command hangs. */
  private deadline: NodeJS.Timeout | undefined;
  /** Local deadline of the lease (Date.now() ms). */
  private until = 0;
  private leader = false;
  private stopped = false;

  constructor(options: LeaderLeaseOptions) {
    this.options = options;
  }

  /** Whether this instance may do the leader's work right now (holds the lease, outside the safety margin). */
  get held(): boolean {
    return this.leader && Date.now() <= this.until - this.options.ttlMs / 3;
  }

  start(): void {
    void this.tick();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    if (!this.leader) return;
    this.leader = false;
    await this.options.client.eval(RELEASE_LUA, 1, this.options.key, this.token).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { client, key, ttlMs } = this.options;
    const sentAt = Date.now();
    try {
      if (this.leader) {
        const renewed = await client.eval(RENEW_LUA, 1, key, this.token, ttlMs);
        if (renewed === 1) this.extend(sentAt + ttlMs);
        else await this.lose('the lease is held by another instance');
      } else {
        const taken = await client.set(key, this.token, 'PX', ttlMs, 'NX');
        if (taken === 'OK' && !this.stopped) {
          this.extend(sentAt + ttlMs);
          this.leader = true;
          await this.options.onAcquired();
        }
      }
    } catch (error) {
      this.options.onCommandFailed(error);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), Math.max(50, Math.floor(ttlMs / 3)));
  }

  private extend(until: number): void {
    this.until = until;
    clearTimeout(this.deadline);
    const stopAt = until - this.options.ttlMs / 3;
    this.deadline = setTimeout(() => void this.lose('the lease could not be renewed in time'), Math.max(0, stopAt - Date.now()));
  }

  /** Stepping down: the work stops even if Redis still names us, since we cannot tell. */
  async lose(why: string): Promise<void> {
    clearTimeout(this.deadline);
    if (!this.leader) return;
    this.leader = false;
    this.options.logger.warn({ why }, 'giving up the lease');
    await this.options.onLost(why);
  }
}
