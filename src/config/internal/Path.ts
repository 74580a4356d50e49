/**
 * Where in the file an issue is: `maglev.frontends.web.pools[1].backends.web3`.
 * A path keeps its parent so that an issue about something the file does not
 * say (a missing key, a default that breaks a rule) can borrow the position of
 * the nearest thing it does say.
 */

/** Keys that print bare after a dot; anything else is printed as `["key"]`. */
const BARE_KEY = /^[A-Za-z0-9_-]+$/

export class Path {
  private constructor(
    readonly text: string,
    readonly parent: Path | undefined
  ) {}

  static readonly root: Path = new Path("", undefined)

  key(name: string): Path {
    if (!BARE_KEY.test(name)) return new Path(`${this.text}[${JSON.stringify(name)}]`, this)
    return new Path(this.text === "" ? name : `${this.text}.${name}`, this)
  }

  index(i: number): Path {
    return new Path(`${this.text}[${i}]`, this)
  }

  toString(): string {
    return this.text
  }
}
