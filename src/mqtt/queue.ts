/** A bounded FIFO that drops its oldest item when full and counts what it dropped. */
export class DropOldestQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  /** Items dropped since the queue was made. */
  dropped = 0;

  /** @param capacity most items held (≥ 1). */
  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds an item; returns the oldest one when it had to go to make room. */
  push(item: T): T | undefined {
    let gone: T | undefined;
    if (this.length >= this.capacity) {
      gone = this.shift();
      this.dropped++;
    }
    this.items.push(item);
    return gone;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // compact now and then, so that a long-lived queue does not keep a growing array of holes
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
