/**
 * The slice of VPP's debug CLI that vppsim answers through `cli_inband`
 * (`vl_api_cli_inband_t_handler`, `src/vlibmemory/vlib_api_cli.c`): the
 * command runs through `vlib_cli_input` (`src/vlib/cli.c`), everything it
 * prints with `vlib_cli_output` (which ends each piece with "\n" when it does
 * not end with one) is collected into the reply's `reply`, and `retval` is
 * what `vlib_cli_input` returns: 0, or for a failed command the error's code,
 * which is -1 when the error has none (every `clib_error_return (0, ...)`).
 *
 * A command is known by its full path (surrounding white space ignored); what
 * follows the path is the command's own input. VPP's word-by-word prefix
 * matching of the path (`sh lb vi ver`) is not modelled.
 *
 * Anything else is answered as VPP answers input that matches no command at
 * the root of its command tree: `vlib_cli_dispatch_sub_commands` fails with
 * "unknown input `%U'" (`format_unformat_error` of the input from where the
 * match failed, which at the root is its start), `vlib_cli_input` prints that
 * and returns -1. Deviations, since the simulator does not hold VPP's tree:
 * input whose first words *are* a VPP command gets VPP's nested message
 * ("show: unknown input `foo'") or that command's own output there, and when
 * VPP's matcher happens to read a word to the end of the input it prints
 * nothing between the quotes.
 */
import type { LbPlugin } from "./LbPlugin.js"

export interface CliReply {
  readonly retval: number
  readonly reply: string
}

/** Command path → what it prints, given the rest of the line after the path (trimmed). */
export type Commands = ReadonlyMap<string, (rest: string) => string>

/** vppinfra `is_white_space` */
const isWhite = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r"

/**
 * vppinfra `format_unformat_error` of input at its start: at most 30
 * characters, then "..."; trailing white space dropped when it all fits;
 * \r, \n and \t escaped.
 */
export const formatUnformatError = (input: string): string => {
  const max = 30
  let shown = input.length > max ? input.slice(0, max) : input
  if (input.length <= max) {
    let end = shown.length
    while (end > 0 && isWhite(shown[end - 1]!)) end--
    shown = shown.slice(0, end)
  }
  const escaped = shown.replace(/[\r\n\t]/g, (c) => (c === "\r" ? "\\r" : c === "\n" ? "\\n" : "\\t"))
  return input.length > max ? `${escaped}...` : escaped
}

/** `vlib_cli_input` for one command text. */
export const run = (cmd: string, commands: Commands): CliReply => {
  const text = cmd.trim()
  let best: string | undefined
  for (const path of commands.keys()) {
    const matches = text === path || (text.startsWith(path) && isWhite(text[path.length]!))
    if (matches && (best === undefined || path.length > best.length)) best = path
  }
  if (best === undefined) return { retval: -1, reply: `unknown input \`${formatUnformatError(cmd)}'\n` }
  return { retval: 0, reply: commands.get(best)!(text.slice(best.length).trim()) }
}

/**
 * The lb plugin's commands. `lb_show_vips_command_fn` (`src/plugins/lb/cli.c`)
 * reads the rest of the line and sets verbose when it starts with "verbose"
 * (`unformat (&line_input, "verbose")` matches the literal, word boundary or
 * not, and ignores what follows); anything else, or nothing, lists the VIPs
 * with `format_lb_vip`.
 */
export const lbCommands = (
  lb: LbPlugin,
  counters: (vipIndex: number) => ReadonlyArray<bigint>,
  now: () => number,
  flows?: (asIndex: number) => number
): Commands =>
  new Map([
    ["show lb vips", (rest: string) => rest.startsWith("verbose") ? lb.showVipsVerbose(counters, now(), flows) : lb.showVipsBrief(now())]
  ])
