/** Something that can be ended when its credential expires. */
export interface Expiring {
  expire(): void;
}

interface Entry {
  readonly at: number;
  readonly item: Expiring;
}

const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Ends streams when their credential expires, with one timer for all of them: a binary
 * min-heap ordered by expiry and one setTimeout armed for its root. Opening or closing a stream
 * is O(log n); 10,000 streams cost one pending timer, not 10,000.
 */
export class ExpiryClock {
  private readonly heap: Entry[] = [];
  private readonly index = new Map<Expiring, number>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  get size(): number {
    return this.heap.length;
  }

  add(item: Expiring, at: number): void {
    if (this.index.has(item)) this.remove(item);
    this.heap.push({ at, item });
    this.index.set(item, this.heap.length - 1);
    this.up(this.heap.length - 1);
    this.arm();
  }

  remove(item: Expiring): void {
    const position = this.index.get(item);
    if (position === undefined) return;
    this.index.delete(item);
    const last = this.heap.pop();
    if (last === undefined || position === this.heap.length) return;
    this.heap[position] = last;
    this.index.set(last.item, position);
    this.down(position);
    this.up(position);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.heap.length = 0;
    this.index.clear();
  }

  private fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    for (let root = this.heap[0]; root !== undefined && root.at <= now; root = this.heap[0]) {
      this.remove(root.item);
      root.item.expire();
    }
    this.arm();
  };

  private arm(): void {
    const root = this.heap[0];
    if (root === undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    if (this.timer !== undefined && this.armedFor <= root.at) return;
    clearTimeout(this.timer);
    this.armedFor = root.at;
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_DELAY, Math.max(0, root.at - this.now())));
    this.timer.unref();
  }

  private up(position: number): void {
    const heap = this.heap;
    let child = position;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      const a = heap[child];
      const b = heap[parent];
      if (a === undefined || b === undefined || b.at <= a.at) break;
      this.swap(child, parent, a, b);
      child = parent;
    }
  }

  private down(position: number): void {
    const heap = this.heap;
    let parent = position;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if ((heap[left]?.at ?? Infinity) < (heap[smallest]?.at ?? Infinity)) smallest = left;
      if ((heap[right]?.at ?? Infinity) < (heap[smallest]?.at ?? Infinity)) smallest = right;
      if (smallest === parent) return;
      const a = heap[parent];
      const b = heap[smallest];
      if (a === undefined || b === undefined) return;
      this.swap(parent, smallest, a, b);
      parent = smallest;
    }
  }

  private swap(i: number, j: number, a: Entry, b: Entry): void {
    this.heap[i] = b;
    this.heap[j] = a;
    this.index.set(b.item, i);
    this.index.set(a.item, j);
  }
}
