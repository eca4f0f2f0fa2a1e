/**
 * The live text of a task's messages, assembled from Socket.IO events without losing or duplicating text.
 *
 * Rules (see the README's "Live chat"): offsets are per message and strictly increasing on the server; a
 * chunk whose offset was already applied (or is at or below the snapshot's offset) is dropped; a chunk that
 * arrives out of order (a resume replay interleaved with live events) is put in its place by offset; a new
 * `run_id` means the step restarted from scratch, so that message's text is cleared. Pure TypeScript: no
 * React, no sockets, so it is unit-tested on its own.
 */

export type MessageStatus = 'streaming' | 'done' | 'error' | 'cancelled'

export interface Usage {
  inputTokens: number
  outputTokens: number
  cost: number
}

export interface ToolEvent {
  offset: number
  kind: string
  data: Record<string, unknown>
}

export interface StreamMessage {
  id: number
  turn: number
  step: number
  role: string
  bot: string | null
  status: MessageStatus
  runId: string | null
  /** The text as shown. */
  content: string
  /** The highest offset applied (0 when nothing streamed yet). */
  offset: number
  error: string | null
  usage: Usage | null
  meta: Record<string, unknown> | null
  /** Tool calls and results seen live (`chat:tool`), by offset, each once. */
  tools: ToolEvent[]
}

/** The tool events a message stored (`meta.tools`: `{kind, ...data}` each, in order), as the live ones look. */
export function storedTools(meta: Record<string, unknown> | null | undefined): ToolEvent[] {
  const tools = meta?.tools
  if (!Array.isArray(tools)) return []
  return tools
    .filter((t): t is Record<string, unknown> => typeof t === 'object' && t !== null)
    .map(({ kind, ...data }, index) => ({ offset: index + 1, kind: typeof kind === 'string' ? kind : 'tool_call', data }))
}

/** A stored message, as REST and `task:join` return it. */
export interface StoredMessage {
  id: number
  turn: number
  step: number
  role: string
  bot: string | null
  content: string
  status: string
  usage?: Usage
  meta?: Record<string, unknown> | null
}

/** The live text of a message still in progress (`task:join`'s `live`). */
export interface LiveEntry {
  message_id: number
  bot?: string | null
  step?: number | null
  run_id?: string | null
  content: string
  offset: number
}

export interface StreamEvent {
  task_id?: number
  message_id: number
  turn?: number
  step?: number
  bot?: string | null
  run_id?: string | null
  /** The last sequence number a chunk covers: what is compared, kept and resumed from. */
  offset?: number
  /**
   * A coalesced `chat:chunk` covers the range `from_offset`..`offset` (several model deltas in one event). Ranges
   * from the server never overlap and always end on a chunk the live log holds, so `offset` alone orders them.
   */
  from_offset?: number
  content?: string
  error?: string
  usage?: { input_tokens?: number; output_tokens?: number; cost?: number }
  role?: string
  meta?: Record<string, unknown>
}

interface Parts {
  /** Text up to `baseOffset` (a snapshot), then the chunks after it, sorted by offset. */
  base: string
  baseOffset: number
  offsets: number[]
  texts: string[]
}

const STATUSES: MessageStatus[] = ['streaming', 'done', 'error', 'cancelled']

function toStatus(value: string): MessageStatus {
  return (STATUSES as string[]).includes(value) ? (value as MessageStatus) : 'done'
}

export class StreamStore {
  private messages = new Map<number, StreamMessage>()
  private parts = new Map<number, Parts>()
  private retiredRuns = new Map<number, Set<string>>()
  /** Bumped on every change: a cheap snapshot key for React. */
  version = 0

  /** Messages ordered by id (the order they were stored in). */
  list(): StreamMessage[] {
    return [...this.messages.values()].sort((a, b) => a.id - b.id)
  }

  get(id: number): StreamMessage | undefined {
    return this.messages.get(id)
  }

  /** Where to `chat:resume` from after a reconnect: every message still streaming and its last offset. */
  resumePoints(): { message_id: number; offset: number }[] {
    return this.list()
      .filter((m) => m.status === 'streaming' && m.role !== 'user')
      .map((m) => ({ message_id: m.id, offset: m.offset }))
  }

  /** Stored history (REST or `task:join`), merged with the live text of messages in progress. */
  loadSnapshot(stored: StoredMessage[], live: LiveEntry[] = []): void {
    const liveById = new Map(live.map((l) => [l.message_id, l]))
    for (const s of stored) {
      const status = toStatus(s.status)
      const current = this.messages.get(s.id)
      const next: StreamMessage = {
        id: s.id,
        turn: s.turn,
        step: s.step,
        role: s.role,
        bot: s.bot,
        status,
        runId: current?.runId ?? null,
        // A stopped or failed step stores no answer (a failed one stores its error): keep what streamed.
        content: status === 'error' ? (current?.content ?? '') : s.content || (status === 'cancelled' ? (current?.content ?? '') : ''),
        offset: current?.offset ?? 0,
        error: status === 'error' ? s.content : null,
        usage: s.usage ?? null,
        meta: s.meta ?? null,
        // Seen live, else as stored with the message (after a reload, or when opening a finished task).
        tools: current?.tools.length ? current.tools : storedTools(s.meta),
      }
      this.messages.set(s.id, next)
      if (status !== 'streaming') {
        this.parts.delete(s.id)
        continue
      }
      const entry = liveById.get(s.id)
      const parts = this.parts.get(s.id)
      if (entry && entry.run_id && current?.runId && entry.run_id !== current.runId) {
        this.retire(s.id, current.runId)
      }
      const sameRun = !!parts && (!entry?.run_id || !current?.runId || entry.run_id === current.runId)
      if (entry && (!sameRun || !parts || entry.offset > parts.baseOffset)) {
        // The snapshot is the exact text up to its offset: it becomes the base; later chunks we hold stay.
        const kept = sameRun ? parts : undefined
        const rest = kept ? kept.offsets.map((o, i) => [o, kept.texts[i]] as const).filter(([o]) => o > entry.offset) : []
        this.parts.set(s.id, {
          base: entry.content,
          baseOffset: entry.offset,
          offsets: rest.map(([o]) => o),
          texts: rest.map(([, t]) => t),
        })
        next.runId = entry.run_id ?? next.runId
        if (entry.bot) next.bot = entry.bot
      } else if (!parts) {
        this.parts.set(s.id, { base: s.content, baseOffset: 0, offsets: [], texts: [] })
      }
      this.render(next)
    }
    this.version++
  }

  /** `chat:start`: a step (re)started. A new run id clears that message's text. */
  start(ev: StreamEvent): void {
    const m = this.ensure(ev)
    const runId = ev.run_id ?? null
    if (runId && m.runId && runId !== m.runId) {
      if (this.retiredRuns.get(m.id)?.has(runId)) return
      this.retire(m.id, m.runId)
      this.reset(m)
    }
    m.runId = runId ?? m.runId
    m.status = 'streaming'
    this.version++
  }

  /** `chat:chunk`: returns true when the text changed. */
  chunk(ev: StreamEvent): boolean {
    if (typeof ev.offset !== 'number' || typeof ev.content !== 'string') return false
    const m = this.ensure(ev)
    if (m.status !== 'streaming') return false // the final text is already there
    const runId = ev.run_id ?? null
    if (runId && m.runId !== runId) {
      if (this.retiredRuns.get(m.id)?.has(runId)) return false // a late chunk of a replaced run
      if (m.runId) {
        // A run we never saw start (its chat:start was missed): it replaces the old one.
        this.retire(m.id, m.runId)
        this.reset(m)
      }
      m.runId = runId
    }
    const parts = this.partsOf(m.id)
    const offset = ev.offset
    if (offset <= parts.baseOffset) return false
    const last = parts.offsets.length ? parts.offsets[parts.offsets.length - 1] : parts.baseOffset
    if (offset > last) {
      parts.offsets.push(offset)
      parts.texts.push(ev.content)
      m.content += ev.content // the common case: appended, no re-join
    } else {
      const at = lowerBound(parts.offsets, offset)
      if (parts.offsets[at] === offset) return false // a duplicate
      parts.offsets.splice(at, 0, offset)
      parts.texts.splice(at, 0, ev.content)
      this.render(m)
    }
    m.offset = Math.max(m.offset, offset)
    this.version++
    return true
  }

  /** `chat:tool`: a tool call or its result; returns false for one already seen. */
  tool(ev: StreamEvent & { kind?: string; data?: Record<string, unknown> }): boolean {
    if (typeof ev.offset !== 'number') return false
    const m = this.ensure(ev)
    if (ev.run_id && m.runId && ev.run_id !== m.runId) return false
    const offset = ev.offset
    if (m.tools.some((t) => t.offset === offset)) return false
    m.tools = [...m.tools, { offset, kind: ev.kind ?? 'tool_call', data: ev.data ?? {} }].sort((a, b) => a.offset - b.offset)
    this.version++
    return true
  }

  /** `chat:done`: the stored, final text replaces the streamed one. */
  done(ev: StreamEvent): void {
    const m = this.ensure(ev)
    if (typeof ev.content === 'string') m.content = ev.content
    m.status = 'done'
    if (ev.usage) {
      m.usage = {
        inputTokens: ev.usage.input_tokens ?? 0,
        outputTokens: ev.usage.output_tokens ?? 0,
        cost: ev.usage.cost ?? 0,
      }
    }
    this.parts.delete(m.id)
    this.version++
  }

  error(ev: StreamEvent): void {
    const m = this.ensure(ev)
    m.status = 'error'
    m.error = ev.error ?? null
    this.version++
  }

  cancelled(ev: StreamEvent): void {
    const m = this.ensure(ev)
    m.status = 'cancelled'
    this.version++
  }

  /** `chat:message`: a workflow note, or a message added locally (the user's own). */
  note(ev: StreamEvent): void {
    const m = this.ensure(ev)
    m.role = ev.role ?? m.role
    m.content = ev.content ?? m.content
    m.meta = ev.meta ?? m.meta
    m.status = 'done'
    this.version++
  }

  private ensure(ev: StreamEvent): StreamMessage {
    let m = this.messages.get(ev.message_id)
    if (!m) {
      m = {
        id: ev.message_id,
        turn: ev.turn ?? 1,
        step: ev.step ?? 0,
        role: ev.role ?? 'assistant',
        bot: ev.bot ?? null,
        status: 'streaming',
        runId: null,
        content: '',
        offset: 0,
        error: null,
        usage: null,
        meta: null,
        tools: [],
      }
      this.messages.set(m.id, m)
    } else if (ev.bot && !m.bot) {
      m.bot = ev.bot
    }
    return m
  }

  private partsOf(id: number): Parts {
    let parts = this.parts.get(id)
    if (!parts) {
      parts = { base: '', baseOffset: 0, offsets: [], texts: [] }
      this.parts.set(id, parts)
    }
    return parts
  }

  private maxOffset(parts: Parts): number {
    return parts.offsets.length ? parts.offsets[parts.offsets.length - 1] : parts.baseOffset
  }

  private retire(id: number, runId: string): void {
    const set = this.retiredRuns.get(id) ?? new Set<string>()
    set.add(runId)
    this.retiredRuns.set(id, set)
  }

  private reset(m: StreamMessage): void {
    this.parts.set(m.id, { base: '', baseOffset: 0, offsets: [], texts: [] })
    m.tools = []
    m.content = ''
    m.offset = 0
    m.status = 'streaming'
  }

  private render(m: StreamMessage): void {
    const parts = this.parts.get(m.id)
    if (!parts) return
    m.content = parts.base + parts.texts.join('')
    m.offset = this.maxOffset(parts)
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid] < value) lo = mid + 1
    else hi = mid
  }
  return lo
}
