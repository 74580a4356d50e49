/**
 * A vppinfra pool (`src/vppinfra/pool.h`) as far as it is observable through the
 * lb API: `pool_get` hands out the most recently freed index first (the free list
 * is a stack) and otherwise appends, i.e. the lowest never-used index; `pool_put`
 * does not clear the element, so a reused slot still holds what its previous
 * occupant left there; `pool_foreach` walks live elements in ascending index order.
 */
export class Pool<T> {
  private readonly slots: Array<T> = []
  private readonly live: Array<boolean> = []
  private readonly freeList: Array<number> = []
  private count = 0

  /**
   * Allocates an index. `init` receives the slot's stale element (undefined for
   * a never-used index) and returns the element to store; it may mutate and
   * return the stale one, which is how a caller models fields VPP does not reset.
   */
  get(init: (stale: T | undefined, index: number) => T): number {
    const reused = this.freeList.pop()
    const index = reused ?? this.slots.length
    const value = init(reused === undefined ? undefined : this.slots[index], index)
    this.slots[index] = value
    this.live[index] = true
    this.count++
    return index
  }

  put(index: number): void {
    if (this.live[index] !== true) throw new Error(`pool: index ${index} is not allocated`)
    this.live[index] = false
    this.freeList.push(index)
    this.count--
  }

  /** The live element at `index`. */
  at(index: number): T | undefined {
    return this.live[index] === true ? this.slots[index] : undefined
  }

  /** The element at `index` whether live or freed (VPP writes through stale indices). */
  raw(index: number): T | undefined {
    return this.slots[index]
  }

  isLive(index: number): boolean {
    return this.live[index] === true
  }

  /** `pool_elts` */
  get size(): number {
    return this.count
  }

  /** `pool_len`: live and free slots together. */
  get length(): number {
    return this.slots.length
  }

  /**
   * `pool_foreach`: calls `f` with each live element in ascending index order. `f`
   * may `put` the index it is given (the walk goes on with the next one) but must
   * not `get`: a reused index above the current one would be visited.
   */
  forEach(f: (value: T, index: number) => void): void {
    const n = this.slots.length
    for (let i = 0; i < n; i++) if (this.live[i] === true) f(this.slots[i]!, i)
  }

  /** Whether `f` holds for a live element, tried in ascending index order up to the first that does. */
  some(f: (value: T, index: number) => boolean): boolean {
    const n = this.slots.length
    for (let i = 0; i < n; i++) if (this.live[i] === true && f(this.slots[i]!, i)) return true
    return false
  }
}
