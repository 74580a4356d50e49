/**
 * Where in the file an issue is: `maglev.frontends.web.pools[1].backends.web3`.
 * A path keeps its parent so that an issue about something the file does not
 * say (a missing key, a default that breaks a rule) can borrow the position of
 * the nearest thing it does say.
 *
 * Paths are interned under their root (`key` and `index` return the same
 * object for the same step), and the walk leaves on each one the YAML node
 * that says it, so that the semantic stage, which builds its paths from the
 * same root, finds the place of its issues without a lookup by text. The text
 * itself is built only when an issue needs it: a large file has a path for
 * every value, and few of them ever get an issue.
 */
import type { Node, Scalar } from "yaml"

/** Keys that print bare after a dot; anything else is printed as `["key"]`. */
const BARE_KEY = /^[A-Za-z0-9_-]+$/

/** Up to this many keyed children are searched in an array, not hashed: a backend's path has two or three. */
const FEW_KEYS = 8

export class Path {
  private cachedText: string | undefined
  /** Keyed children: an array while there are few (10,000 backends made 10,000 Maps), then a Map. */
  private keys: Array<Path> | Map<string, Path> | undefined
  private indexes: Array<Path> | undefined
  /** The node the file says this path with: its key (collections) or its scalar value. Set by the walk. */
  at: Node | undefined
  /** The scalar value as the file writes it, when the path has one. Set by the walk. */
  scalar: Scalar | undefined

  private constructor(
    /** A key, an index, or undefined for the root; printed only when the text is asked for. */
    private readonly step: string | number | undefined,
    readonly parent: Path | undefined
  ) {}

  /** A new root: every walk has its own, so that nothing of one file outlives its check. */
  static root(): Path {
    return new Path(undefined, undefined)
  }

  get text(): string {
    if (this.cachedText === undefined) {
      const parent = this.parent?.text ?? ""
      const step = this.step
      this.cachedText =
        step === undefined
          ? ""
          : typeof step === "number"
            ? `${parent}[${step}]`
            : !BARE_KEY.test(step)
              ? `${parent}[${JSON.stringify(step)}]`
              : parent === ""
                ? step
                : `${parent}.${step}`
    }
    return this.cachedText
  }

  key(name: string): Path {
    const keys = this.keys
    if (keys === undefined) {
      const child = new Path(name, this)
      this.keys = [child]
      return child
    }
    if (Array.isArray(keys)) {
      for (const p of keys) if (p.step === name) return p
      const child = new Path(name, this)
      if (keys.length < FEW_KEYS) keys.push(child)
      else this.keys = new Map([...keys, child].map((p) => [p.step as string, p]))
      return child
    }
    let child = keys.get(name)
    if (child === undefined) {
      child = new Path(name, this)
      keys.set(name, child)
    }
    return child
  }

  index(i: number): Path {
    this.indexes ??= []
    return (this.indexes[i] ??= new Path(i, this))
  }

  toString(): string {
    return this.text
  }
}
