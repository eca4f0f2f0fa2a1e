/**
 * A task's thread, live: joins the task's room, loads the history with the live text so far, applies the
 * stream events through the StreamStore, and after a reconnect joins again and resumes every message still
 * streaming from its last offset. Renders are coalesced to one per animation frame, not one per chunk.
 */
import { useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo, useReducer, useRef, useState } from 'react'
import type { Socket } from 'socket.io-client'

import type { TaskDetail } from '../client'
import { call, type Ack } from '../lib/socket'
import { StreamStore, type LiveEntry, type StreamEvent } from '../lib/streamStore'
import { ClientEvent, ServerEvent } from '../client/realtime'

export interface TaskStatus {
  state: string
  error: string | null
  step: number | null
  bot: string | null
}

export type TaskView = Omit<TaskDetail, 'state' | 'error'> & TaskStatus

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED'])
/** Events that end a message: the task's state changes right after (the next stage, or an end of the turn). */
const MESSAGE_ENDS = new Set<string>([ServerEvent.CHAT_DONE, ServerEvent.CHAT_ERROR, ServerEvent.CHAT_CANCELLED])
/** How long after a message's end the page waits for the task's new state before it asks the server. */
export const SETTLE_MS = 3000

interface JoinAck extends Ack {
  task: TaskDetail
  live: LiveEntry[]
}

export function useTaskStream(socket: Socket | null, taskId: number | null) {
  const store = useMemo(() => new StreamStore(), [taskId])
  const [task, setTask] = useState<TaskView | null>(null)
  const [failure, setFailure] = useState<unknown>(null)
  const [, rerender] = useReducer((n: number) => n + 1, 0)
  const frame = useRef<number | null>(null)
  const queries = useQueryClient()

  useEffect(() => {
    setTask(null)
    setFailure(null)
    if (!socket || taskId === null) return
    let active = true
    let joinedOnce = false
    // The live view is best effort: a task:status published while the API's bus listener reconnects is lost,
    // and the page would show RUNNING (with Stop) forever. A message's end is always followed by a state
    // change; if none arrives within SETTLE_MS, the page reads the task's state from the server.
    let statusSinceEnd = true
    let settle: ReturnType<typeof setTimeout> | null = null
    const settleSoon = () => {
      statusSinceEnd = false
      if (settle !== null) clearTimeout(settle)
      settle = setTimeout(() => {
        settle = null
        // The task list missed the same event: it reads the tasks again too.
        if (active && !statusSinceEnd) void sync().then(() => queries.invalidateQueries({ queryKey: ['tasks'] }))
      }, SETTLE_MS)
    }

    const schedule = () => {
      if (frame.current !== null) return
      frame.current = requestAnimationFrame(() => {
        frame.current = null
        rerender()
      })
    }
    const mine = (ev: StreamEvent) => ev.task_id === taskId

    const adopt = (detail: TaskDetail) => {
      setTask({ ...detail, step: detail.currentStep ?? null, bot: detail.currentBot ?? null })
    }

    const join = async () => {
      try {
        const ack = await call<JoinAck>(socket, ClientEvent.TASK_JOIN, { task_id: taskId })
        if (!active) return
        const resume = joinedOnce ? store.resumePoints() : []
        store.loadSnapshot(ack.task.messages, ack.live)
        adopt(ack.task)
        schedule()
        // After a reconnect: replay what was produced while we were away, from each message's last offset.
        for (const point of resume) {
          const now = store.get(point.message_id)
          if (now && now.status === 'streaming') {
            await call(socket, ClientEvent.CHAT_RESUME, { task_id: taskId, message_id: point.message_id, offset: now.offset })
          }
        }
        joinedOnce = true
      } catch (err) {
        if (active) setFailure(err)
      }
    }

    const sync = async () => {
      try {
        const ack = await call<JoinAck>(socket, ClientEvent.HISTORY_SYNC, { task_id: taskId })
        if (!active) return
        store.loadSnapshot(ack.task.messages)
        adopt(ack.task)
        schedule()
      } catch {
        /* the live view already has the text; the next join reconciles */
      }
    }

    const handlers: Record<string, (ev: StreamEvent & Record<string, unknown>) => void> = {
      [ServerEvent.CHAT_START]: (ev) => store.start(ev),
      [ServerEvent.CHAT_CHUNK]: (ev) => store.chunk(ev),
      [ServerEvent.CHAT_TOOL]: (ev) => store.tool(ev),
      [ServerEvent.CHAT_DONE]: (ev) => store.done(ev),
      [ServerEvent.CHAT_ERROR]: (ev) => store.error(ev),
      [ServerEvent.CHAT_CANCELLED]: (ev) => store.cancelled(ev),
      [ServerEvent.CHAT_MESSAGE]: (ev) => store.note({ ...ev, role: ev.role ?? 'system' }),
    }
    const bound = Object.entries(handlers).map(([event, apply]) => {
      const listener = (ev: StreamEvent & Record<string, unknown>) => {
        if (!mine(ev)) return
        apply(ev)
        schedule()
        if (MESSAGE_ENDS.has(event)) settleSoon()
      }
      socket.on(event, listener)
      return [event, listener] as const
    })
    const onStatus = (ev: { task_id: number; state: string; error?: string | null; step?: number | null; bot?: string | null }) => {
      if (ev.task_id !== taskId) return
      statusSinceEnd = true
      setTask((t) => (t ? { ...t, state: ev.state, error: ev.error ?? null, step: ev.step ?? t.step, bot: ev.bot ?? t.bot } : t))
      if (TERMINAL.has(ev.state) || ev.state === 'PENDING_CONFIRMATION') void sync()
    }
    socket.on(ServerEvent.TASK_STATUS, onStatus)
    socket.on('connect', join)
    if (socket.connected) void join()

    return () => {
      active = false
      if (settle !== null) clearTimeout(settle)
      for (const [event, listener] of bound) socket.off(event, listener)
      socket.off(ServerEvent.TASK_STATUS, onStatus)
      socket.off('connect', join)
      if (frame.current !== null) cancelAnimationFrame(frame.current)
      frame.current = null
      if (socket.connected) socket.emit(ClientEvent.TASK_LEAVE, { task_id: taskId })
    }
  }, [socket, taskId, store, queries])

  /** Show the user's own message at once (a follow-up), before the server's history says so. */
  const addUserMessage = (messageId: number, turn: number, content: string) => {
    store.note({ message_id: messageId, turn, step: 0, role: 'user', content })
    rerender()
  }

  return { task, messages: store.list(), failure, addUserMessage, version: store.version }
}
