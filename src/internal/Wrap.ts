/** Text in lines of at most `width` columns (80 by default), for help texts and banners. */
export const WIDTH = 80

/** `text` cut between words into lines of at most `width` columns, each after `indent` spaces; a longer word stays whole. */
export const wrap = (text: string, indent: number, width = WIDTH): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && indent + line.length + 1 + word.length > width) {
      lines.push(" ".repeat(indent) + line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(" ".repeat(indent) + line)
  return lines
}
