/** Something that may need a keep-alive comment. */
export interface Beating {
  beat(): void;
}

/**
 * One timer for every stream's heartbeat, instead of a timer per connection: 10,000 streams
 * cost one interval and one loop per period. Each stream sends a comment only if it wrote
 * nothing since the previous tick, so a busy stream carries no heartbeat bytes; an idle one gets
 * a comment at most two periods apart.
 */
export class Heartbeat {
  private readonly members = new Set<Beating>();
  private readonly timer: NodeJS.Timeout;

  constructor(periodMs: number) {
    this.timer = setInterval(() => {
      for (const member of this.members) member.beat();
    }, periodMs);
    this.timer.unref();
  }

  add(member: Beating): void {
    this.members.add(member);
  }

  remove(member: Beating): void {
    this.members.delete(member);
  }

  stop(): void {
    clearInterval(this.timer);
    this.members.clear();
  }
}
