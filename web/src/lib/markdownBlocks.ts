/**
 * An answer's markdown split into top-level blocks at blank lines, so a streaming answer re-parses only its last
 * block per frame: finished blocks never change and are rendered once (memoized by the caller). Without this each
 * frame parses the whole answer again, which is quadratic over a long answer.
 *
 * A blank line inside a fenced code block does not split, and a block that starts indented (a list item's
 * continuation, indented code) stays with the one before, so what renders is what the whole text would render.
 */
export function splitBlocks(text: string): string[] {
  const blocks: string[] = []
  let current: string[] = []
  let fence: string | null = null
  const flush = () => {
    if (!current.length) return
    const block = current.join('\n')
    if (blocks.length && /^[ \t]/.test(block)) blocks[blocks.length - 1] += '\n\n' + block
    else blocks.push(block)
    current = []
  }
  for (const line of text.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker && (fence === null || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === null ? marker : null
    }
    if (fence === null && line.trim() === '') flush()
    else current.push(line)
  }
  flush()
  return blocks
}
