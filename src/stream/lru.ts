/**
 * A least-recently-used map bounded by a total weight (bytes, or 1 per
 * entry for a count bound).
 *
 * @module
 */

interface Slot<V> {
  value: V;
  weight: number;
  onEvict: (() => void) | undefined;
}

/** An LRU map whose entries' weights sum to at most `capacity`. */
export class Lru<V> {
  readonly capacity: number;
  #weight = 0;
  readonly #map = new Map<string, Slot<V>>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Sum of the weights held. */
  get weight(): number {
    return this.#weight;
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** The value of `key`, marking it most recently used. */
  get(key: string): V | undefined {
    const s = this.#map.get(key);
    if (s === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, s);
    return s.value;
  }

  /** Adds or replaces `key`; entries heavier than the capacity are not kept. */
  set(key: string, value: V, weight: number, onEvict?: () => void): void {
    this.delete(key);
    if (weight > this.capacity) {
      onEvict?.();
      return;
    }
    this.#map.set(key, { value, weight, onEvict });
    this.#weight += weight;
    for (const [k, s] of this.#map) {
      if (this.#weight <= this.capacity) break;
      this.#map.delete(k);
      this.#weight -= s.weight;
      s.onEvict?.();
    }
  }

  /** Removes `key` if present. */
  delete(key: string): void {
    const s = this.#map.get(key);
    if (s === undefined) return;
    this.#map.delete(key);
    this.#weight -= s.weight;
    s.onEvict?.();
  }

  /** Removes every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const k of [...this.#map.keys()]) if (k.startsWith(prefix)) this.delete(k);
  }

  /** Removes everything. */
  clear(): void {
    for (const k of [...this.#map.keys()]) this.delete(k);
  }
}
