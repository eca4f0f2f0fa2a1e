import { describe, expect, it } from 'vitest'

import { splitBlocks } from './markdownBlocks'

describe('splitBlocks', () => {
  it('splits at blank lines, keeping every block whole', () => {
    expect(splitBlocks('# Title\n\nSome *text*\nmore\n\n- a\n- b')).toEqual(['# Title', 'Some *text*\nmore', '- a\n- b'])
  })

  it('does not split a fenced code block at its blank lines', () => {
    const code = '```python\ndef f():\n\n    return 1\n```'
    expect(splitBlocks(`Before\n\n${code}\n\nAfter`)).toEqual(['Before', code, 'After'])
    expect(splitBlocks('~~~\na\n\n```\nb\n~~~\n\nc')).toEqual(['~~~\na\n\n```\nb\n~~~', 'c'])
  })

  it('keeps an indented continuation with the block before it', () => {
    expect(splitBlocks('1. first\n\n   still first\n2. second')).toEqual(['1. first\n\n   still first\n2. second'])
  })

  it('a streaming answer only ever changes its last block', () => {
    const full = 'one\n\ntwo\n\n```\nx\n\ny\n```\n\nthree'
    let previous: string[] = []
    for (let i = 1; i <= full.length; i++) {
      const blocks = splitBlocks(full.slice(0, i))
      // Every block but the last one of the previous prefix is unchanged.
      expect(blocks.slice(0, Math.max(0, previous.length - 1))).toEqual(previous.slice(0, -1))
      previous = blocks
    }
    expect(previous).toEqual(['one', 'two', '```\nx\n\ny\n```', 'three'])
  })
})
