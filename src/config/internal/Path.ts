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
 *
 * A key whose value is a plain scalar (`address: 10.0.0.1`, most of a big
 * file) is not kept by the walk: its path is made again when asked for, and
 * finds its place in the mapping its parent says (`map`).
 */
import * as Yaml from "yaml"
import type { Node, Scalar, YAMLMap } from "yaml"
import { startOf } from "./Simple.js"

const { isNode, isScalar } = Yaml

/** Keys that print bare after a dot; anything else is printed as `["key"]`. */
const BARE_KEY = /^[A-Za-z0-9_-]+$/

/** Up to this many children are a list (a backend's path has two or three), more are hashed. */
const FEW = 8

export class Path {
  /**
   * The children: the last one made, which links to the one before it
   * (`sibling`), while there are few; all of them by step once there are
   * more. No array per path: 10,000 backends made 10,000 (17 slots each).
   */
  private children: Path | Map<string | number, Path> | undefined
  private sibling: Path | undefined
  /** The node the file says this path with: its key (collections) or its scalar value. Set by the walk. */
  at: Node | undefined
  /** The scalar value as the file writes it, when the path has one. Set by the walk. */
  scalar: Scalar | undefined
  /** The mapping the file says this path with, where its keys not kept are found. Set by the walk. */
  map: YAMLMap | undefined

  private constructor(
    /** A key, an index, or undefined for the root; printed only when the text is asked for. */
    private readonly step: string | number | undefined,
    readonly parent: Path | undefined
  ) {}

  /** A new root: every walk has its own, so that nothing of one file outlives its check. */
  static root(): Path {
    return new Path(undefined, undefined)
  }

  /** Built when asked for (an issue), not kept: a large file has a path for every value, and few of them get an issue. */
  get text(): string {
    const step = this.step
    if (step === undefined) return ""
    const parent = this.parent!.text
    return typeof step === "number"
      ? `${parent}[${step}]`
      : !BARE_KEY.test(step)
        ? `${parent}[${JSON.stringify(step)}]`
        : parent === ""
          ? step
          : `${parent}.${step}`
  }

  key(name: string): Path {
    return this.child(name)
  }

  /**
   * The path of `name` for the walk to decode a plain scalar with, not kept:
   * `key(name)` makes it again, from `map`, if anything asks for it later.
   */
  unkept(name: string): Path {
    return this.find(name) ?? new Path(name, this)
  }

  /**
   * Remembers where this path is: at its value when that is a scalar (errors
   * are about the value), else at its key (a mapping's value starts a line
   * later). `value` null: empty.
   */
  mark(key: unknown, value: Node | null): void {
    const scalar = value !== null && isScalar(value) ? value : undefined
    const at = scalar ?? key
    if (this.at === undefined && isNode(at) && startOf(at) !== undefined) this.at = at
    if (scalar !== undefined && this.scalar === undefined) this.scalar = scalar
  }

  index(i: number): Path {
    return this.child(i)
  }

  private find(step: string | number): Path | undefined {
    const children = this.children
    if (children instanceof Map) return children.get(step)
    for (let p = children; p !== undefined; p = p.sibling) if (p.step === step) return p
    return undefined
  }

  private child(step: string | number): Path {
    const found = this.find(step)
    if (found !== undefined) return found
    const child = new Path(step, this)
    if (typeof step === "string" && this.map !== undefined) child.markFrom(this.map)
    const children = this.children
    if (children instanceof Map) {
      children.set(step, child)
      return child
    }
    let few = 0
    for (let p = children; p !== undefined; p = p.sibling) few++
    if (few < FEW) {
      child.sibling = children
      this.children = child
    } else {
      const all = new Map<string | number, Path>([[step, child]])
      for (let p = children; p !== undefined; p = p.sibling) all.set(p.step!, p)
      this.children = all
    }
    return child
  }

  /** What the walk would have marked on an unkept key of `map`: the first pair with it (later ones are duplicates). */
  private markFrom(map: YAMLMap): void {
    for (const pair of map.items) {
      if (!isScalar(pair.key) || pair.key.value !== this.step) continue
      if (isScalar(pair.value)) this.mark(pair.key, pair.value.value === null ? null : pair.value)
      return
    }
  }

  toString(): string {
    return this.text
  }
}
