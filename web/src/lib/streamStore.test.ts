import { describe, expect, it } from 'vitest'

import { StreamStore } from './streamStore'

const base = { task_id: 1, message_id: 7, turn: 1, step: 1, bot: 'writer' }

function chunk(store: StreamStore, offset: number, content: string, run_id = 'r1'): boolean {
  return store.chunk({ ...base, run_id, offset, content })
}

describe('StreamStore', () => {
  it('assembles chunks in offset order', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'Hel')
    chunk(store, 2, 'lo')
    chunk(store, 4, '!') // offsets may skip (tool events use numbers too)
    expect(store.get(7)?.content).toBe('Hello!')
    expect(store.get(7)?.offset).toBe(4)
    expect(store.get(7)?.bot).toBe('writer')
  })

  it('applies coalesced chunks by their last offset; a replayed range is dropped, a later one continues', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    expect(store.chunk({ ...base, run_id: 'r1', from_offset: 1, offset: 1, content: 'The ' })).toBe(true)
    expect(store.chunk({ ...base, run_id: 'r1', from_offset: 2, offset: 5, content: 'quick brown ' })).toBe(true)
    // A resume after a reconnect replays the same range: nothing twice.
    expect(store.chunk({ ...base, run_id: 'r1', from_offset: 2, offset: 5, content: 'quick brown ' })).toBe(false)
    expect(store.chunk({ ...base, run_id: 'r1', from_offset: 6, offset: 9, content: 'fox' })).toBe(true)
    expect(store.get(7)?.content).toBe('The quick brown fox')
    expect(store.resumePoints()).toEqual([{ message_id: 7, offset: 9 }])
  })

  it('drops a chunk already applied (same offset) and never duplicates text', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    expect(chunk(store, 1, 'a')).toBe(true)
    expect(chunk(store, 2, 'b')).toBe(true)
    expect(chunk(store, 2, 'b')).toBe(false)
    expect(chunk(store, 1, 'a')).toBe(false)
    expect(store.get(7)?.content).toBe('ab')
  })

  it('puts an out-of-order chunk in its place (resume replay interleaved with live events)', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'one ')
    chunk(store, 4, 'four') // live, ahead of the replay
    chunk(store, 2, 'two ')
    chunk(store, 3, 'three ')
    chunk(store, 3, 'three ') // the replay and the live stream both carried it
    expect(store.get(7)?.content).toBe('one two three four')
    expect(store.get(7)?.offset).toBe(4)
  })

  it('clears the text when chat:start brings a new run id, and ignores the old run afterwards', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'stale ')
    chunk(store, 2, 'text')
    store.start({ ...base, run_id: 'r2' })
    expect(store.get(7)?.content).toBe('')
    expect(store.get(7)?.offset).toBe(0)
    chunk(store, 1, 'fresh', 'r2')
    expect(chunk(store, 3, ' late', 'r1')).toBe(false)
    store.start({ ...base, run_id: 'r1' }) // a replayed start of the replaced run changes nothing
    expect(store.get(7)?.content).toBe('fresh')
  })

  it('a chunk of an unseen run replaces the old run (its chat:start was missed)', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'old')
    chunk(store, 1, 'new', 'r2')
    expect(store.get(7)?.content).toBe('new')
  })

  it('drops chunks at or below the snapshot offset after task:join', () => {
    const store = new StreamStore()
    store.loadSnapshot(
      [
        { id: 6, turn: 1, step: 0, role: 'user', bot: null, content: 'hi', status: 'done' },
        { id: 7, turn: 1, step: 1, role: 'assistant', bot: 'writer', content: '', status: 'streaming' },
      ],
      [{ message_id: 7, bot: 'writer', step: 1, run_id: 'r1', content: 'abc', offset: 3 }],
    )
    expect(chunk(store, 2, 'b')).toBe(false)
    expect(chunk(store, 3, 'c')).toBe(false)
    expect(chunk(store, 4, 'd')).toBe(true)
    expect(store.get(7)?.content).toBe('abcd')
    expect(store.list().map((m) => m.id)).toEqual([6, 7])
    expect(store.resumePoints()).toEqual([{ message_id: 7, offset: 4 }])
  })

  it('a snapshot behind what was streamed keeps the streamed text (reconnect: join, then resume)', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    for (let i = 1; i <= 5; i++) chunk(store, i, `w${i} `)
    store.loadSnapshot(
      [{ id: 7, turn: 1, step: 1, role: 'assistant', bot: 'writer', content: '', status: 'streaming' }],
      [{ message_id: 7, run_id: 'r1', content: 'w1 w2 w3 ', offset: 3 }],
    )
    expect(store.get(7)?.content).toBe('w1 w2 w3 w4 w5 ')
    // The resume replays from offset 5: nothing is duplicated, the rest is appended.
    expect(store.resumePoints()).toEqual([{ message_id: 7, offset: 5 }])
    chunk(store, 5, 'w5 ')
    chunk(store, 6, 'w6')
    expect(store.get(7)?.content).toBe('w1 w2 w3 w4 w5 w6')
  })

  it('a snapshot ahead of what was streamed becomes the base, later chunks are kept', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'a')
    chunk(store, 6, 'f') // arrived live before the snapshot was read
    store.loadSnapshot(
      [{ id: 7, turn: 1, step: 1, role: 'assistant', bot: 'writer', content: '', status: 'streaming' }],
      [{ message_id: 7, run_id: 'r1', content: 'abcde', offset: 5 }],
    )
    expect(store.get(7)?.content).toBe('abcdef')
  })

  it('chat:done replaces the text with the stored answer and stops streaming', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'partial')
    store.done({ ...base, run_id: 'r1', content: 'partial and final', usage: { input_tokens: 3, output_tokens: 5, cost: 0.1 } })
    expect(store.get(7)).toMatchObject({ status: 'done', content: 'partial and final' })
    expect(store.get(7)?.usage).toEqual({ inputTokens: 3, outputTokens: 5, cost: 0.1 })
    expect(chunk(store, 2, 'late')).toBe(false)
    expect(store.resumePoints()).toEqual([])
  })

  it('cancel keeps the partial text; error records the reason', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'half')
    store.cancelled({ ...base })
    expect(store.get(7)).toMatchObject({ status: 'cancelled', content: 'half' })
    store.start({ ...base, message_id: 8, run_id: 'x' })
    store.error({ ...base, message_id: 8, error: 'model refused' })
    expect(store.get(8)).toMatchObject({ status: 'error', error: 'model refused' })
    // The stored rows (no answer for a stopped step, the error for a failed one) keep the streamed text.
    store.loadSnapshot([
      { id: 7, turn: 1, step: 1, role: 'assistant', bot: 'writer', content: '', status: 'cancelled' },
      { id: 8, turn: 1, step: 2, role: 'assistant', bot: 'writer', content: 'model refused', status: 'error' },
    ])
    expect(store.get(7)).toMatchObject({ status: 'cancelled', content: 'half' })
    expect(store.get(8)).toMatchObject({ status: 'error', content: '', error: 'model refused' })
  })

  it('20,000 chunks assemble quickly and exactly', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    const started = performance.now()
    let expected = ''
    for (let i = 1; i <= 20000; i++) {
      chunk(store, i, `${i},`)
      expected += `${i},`
    }
    expect(store.get(7)?.content).toBe(expected)
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('keeps each tool call and result once, in offset order, and drops them with a replaced run', () => {
    const store = new StreamStore()
    store.start({ ...base, run_id: 'r1' })
    chunk(store, 1, 'Let me add. ')
    expect(store.tool({ ...base, run_id: 'r1', offset: 3, kind: 'tool_result', data: { output: '4' } })).toBe(true)
    expect(store.tool({ ...base, run_id: 'r1', offset: 2, kind: 'tool_call', data: { name: 'add' } })).toBe(true)
    expect(store.tool({ ...base, run_id: 'r1', offset: 2, kind: 'tool_call', data: { name: 'add' } })).toBe(false)
    chunk(store, 4, 'It is 4.')
    expect(store.get(7)?.tools.map((t) => t.kind)).toEqual(['tool_call', 'tool_result'])
    expect(store.get(7)?.content).toBe('Let me add. It is 4.')
    store.start({ ...base, run_id: 'r2' })
    expect(store.get(7)?.tools).toEqual([])
    expect(store.tool({ ...base, run_id: 'r1', offset: 5, kind: 'tool_call', data: {} })).toBe(false)
  })
  it('a stored message shows its stored tool calls and results; live ones are not doubled', () => {
    const stored = {
      id: 7, turn: 1, step: 1, role: 'assistant', bot: 'calc', content: 'It is 42.', status: 'done',
      meta: { tools: [{ kind: 'tool_call', name: 'add', arguments: { a: 20, b: 22 } }, { kind: 'tool_result', output: '42' }] },
    }
    const opened = new StreamStore()
    opened.loadSnapshot([stored])
    expect(opened.get(7)?.tools).toEqual([
      { offset: 1, kind: 'tool_call', data: { name: 'add', arguments: { a: 20, b: 22 } } },
      { offset: 2, kind: 'tool_result', data: { output: '42' } },
    ])
    const live = new StreamStore()
    live.start({ ...base, run_id: 'r1' })
    live.tool({ ...base, run_id: 'r1', offset: 3, kind: 'tool_call', data: { name: 'add' } })
    live.loadSnapshot([stored])
    expect(live.get(7)?.tools.map((t) => t.offset)).toEqual([3])
  })
})
