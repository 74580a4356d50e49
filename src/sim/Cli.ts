/**
 * The slice of VPP's debug CLI that vppsim answers through `cli_inband`
 * (`vl_api_cli_inband_t_handler`, `src/vlibmemory/vlib_api_cli.c`): the
 * command runs through `vlib_cli_input` (`src/vlib/cli.c`), everything it
 * prints with `vlib_cli_output` (which ends each piece with "\n" when it does
 * not end with one) is collected into the reply's `reply`, and `retval` is
 * what `vlib_cli_input` returns: 0, or for a failed command the error's code,
 * which is -1 when the error has none (every `clib_error_return (0, ...)`).
 *
 * Only exact command texts are known here (surrounding white space ignored);
 * VPP's word-by-word prefix matching (`sh lb vi ver`) is not modelled.
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

/** Command text → what it prints. */
export type Commands = ReadonlyMap<string, () => string>

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
  const command = commands.get(cmd.trim())
  if (command === undefined) return { retval: -1, reply: `unknown input \`${formatUnformatError(cmd)}'\n` }
  return { retval: 0, reply: command() }
}

/**
 * The lb plugin's commands. `show lb vips` without `verbose` prints nothing
 * in VPP: `lb_show_vips_command_fn` returns at once when
 * `unformat_line_input` finds no line, which an empty rest of the input is
 * (`unformat_line` returns the line's length, 0). Only `verbose` gets output.
 */
export const lbCommands = (
  lb: LbPlugin,
  counters: (vipIndex: number) => ReadonlyArray<bigint>,
  now: () => number
): Commands =>
  new Map([
    ["show lb vips verbose", () => lb.showVipsVerbose(counters, now())],
    ["show lb vips", () => ""]
  ])
