/**
 * The simulation's clock: one slot per daemon, keyed by the time of that daemon's next event, in a
 * binary min-heap. A daemon's events change only its own key, so each step updates the top in place;
 * 100,000 idle daemons cost nothing until their time comes.
 */
export class DaemonClock {
  readonly #keys: Float64Array;
  readonly #heap: Int32Array;
  readonly #pos: Int32Array;

  constructor(keys: Float64Array) {
    this.#keys = keys;
    const n = keys.length;
    this.#heap = new Int32Array(n);
    this.#pos = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.#heap[i] = i;
      this.#pos[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  /** The daemon whose event comes first. */
  top(): number {
    return this.#heap[0] as number;
  }

  topKey(): number {
    return this.#keys[this.top()] as number;
  }

  /** Sets a daemon's next event time. */
  set(daemon: number, key: number): void {
    const old = this.#keys[daemon] as number;
    this.#keys[daemon] = key;
    const i = this.#pos[daemon] as number;
    if (key < old) this.#up(i);
    else this.#down(i);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const keys = this.#keys;
    const id = heap[i] as number;
    const key = keys[id] as number;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pid = heap[parent] as number;
      if ((keys[pid] as number) <= key) break;
      heap[i] = pid;
      this.#pos[pid] = i;
      i = parent;
    }
    heap[i] = id;
    this.#pos[id] = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const keys = this.#keys;
    const n = heap.length;
    const id = heap[i] as number;
    const key = keys[id] as number;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (keys[heap[right] as number] as number) < (keys[heap[child] as number] as number)) child = right;
      const cid = heap[child] as number;
      if ((keys[cid] as number) >= key) break;
      heap[i] = cid;
      this.#pos[cid] = i;
      i = child;
    }
    heap[i] = id;
    this.#pos[id] = i;
  }
}
