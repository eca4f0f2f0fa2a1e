// Generated from wegent/realtime.py and wegent/realtime_payloads.py by scripts/gen_web_client.sh: never
// edit it by hand.

import type { components } from './schema'

export const NAMESPACE = '/chat'

export const taskRoom = (taskId: number): string => `task:${taskId}`
export const userRoom = (userId: number): string => `user:${userId}`

/** What a client asks; every one is answered with an ack. */
export const ClientEvent = {
  TASK_JOIN: 'task:join',
  TASK_LEAVE: 'task:leave',
  HISTORY_SYNC: 'history:sync',
  CHAT_SEND: 'chat:send',
  CHAT_RESUME: 'chat:resume',
  CHAT_CANCEL: 'chat:cancel',
} as const
export type ClientEvent = (typeof ClientEvent)[keyof typeof ClientEvent]

/** What the server pushes to a room or a socket. */
export const ServerEvent = {
  CHAT_START: 'chat:start',
  CHAT_CHUNK: 'chat:chunk',
  CHAT_TOOL: 'chat:tool',
  CHAT_MESSAGE: 'chat:message',
  CHAT_DONE: 'chat:done',
  CHAT_ERROR: 'chat:error',
  CHAT_CANCELLED: 'chat:cancelled',
  TASK_STATUS: 'task:status',
  TASK_CREATED: 'task:created',
  AUTH_ERROR: 'auth:error',
} as const
export type ServerEvent = (typeof ServerEvent)[keyof typeof ServerEvent]

/** What every event about one agent's answer (an assistant message) carries: task, message, turn, step, bot, run. */
export interface AnswerEvent {
  task_id: number
  message_id: number
  turn: number
  step: number
  bot: string
  attempt: number
  run_id: string
  entry?: string | null
}

/** A step's run started streaming; a new `run_id` for a message means its text starts over. */
export type ChatStart = AnswerEvent

/** Text of the message: the deltas with sequence numbers `from_offset`..`offset`, joined. */
export interface ChatChunk extends AnswerEvent {
  offset: number
  from_offset: number
  content: string
}

/** A tool call or its result, numbered in the same sequence as the text. */
export interface ChatTool extends AnswerEvent {
  offset: number
  kind: 'tool_call' | 'tool_result'
  data: Record<string, unknown>
}

/** What a message's model calls cost, as the model gateway counted them. */
export interface Usage {
  input_tokens: number
  output_tokens: number
  cost: number
}

/** The message is complete: its whole text and what its model calls cost. */
export interface ChatDone extends AnswerEvent {
  content: string
  usage: Usage
}

/** The step failed; `retryable`: it may run again (a new attempt, or a fresh sandbox). */
export interface ChatError extends AnswerEvent {
  error: string
  retryable: boolean
}

/** The step stopped because the task was cancelled; the text streamed so far is kept. */
export interface ChatCancelled extends AnswerEvent {
  reason: string
}

/** A message the workflow wrote (routing decisions, notices, approval timeouts): not an agent's answer. */
export interface ChatMessage {
  task_id: number
  message_id: number
  turn: number
  step: number
  bot: string | null
  role: 'system'
  content: string
  meta: Record<string, unknown>
  entry?: string | null
}

/** A task's state changed (to its room and its owner's room); `step`/`bot` while a step runs. */
export interface TaskStatus {
  task_id: number
  state: string
  turn: number
  error?: string | null
  step?: number | null
  bot?: string | null
  entry?: string | null
}

/** A new task of the user (to the user's room): the task as the REST API shows it (its fields, as they are). */
export type TaskCreated = components['schemas']['TaskPublic']

/** The socket's credentials ran out or were revoked; the server disconnects it next. */
export interface AuthError {
  error: string
}

/** `task:join`, `task:leave`, `history:sync`, `chat:cancel`: which task. */
export interface TaskRequest {
  task_id: number
}

/** Replay one message's chunks after `offset` (the last one shown), then keep streaming. */
export interface ChatResumeRequest {
  task_id: number
  message_id: number
  offset?: number
}

/** A team by name (`namespace` "default" when left out); a bare name string is accepted too. */
export interface TeamRef {
  name: string
  namespace?: string
}

/** A new task (`team` + `message`), a follow-up (`task_id` + `message`), or a decision on a waiting task (`task_id` + `action`, with an optional `message`: the edited hand-off of an approval, a rejection's reason). */
export interface ChatSendRequest {
  action?: 'approve' | 'reject' | 'retry' | null
  task_id?: number | null
  message?: string | null
  team?: TeamRef | null
  title?: string | null
}

/** A refused request: why, an HTTP-like status, and the field at fault when there is one. */
export interface ErrorAck {
  ok: false
  error: string
  status: number
  field?: string | null
}

export interface OkAck {
  ok: true
}

/** Text streamed so far for a message still in progress, with the offset it reached. */
export interface LiveText {
  message_id: number
  bot: string | null
  step: number | null
  run_id: string | null
  content: string
  offset: number
}

/** `streaming`: whether this API relays the workers' events (without a shared bus only the database's view). */
export interface TaskJoinAck extends OkAck {
  task: components['schemas']['TaskDetailPublic']
  live: LiveText[]
  offset: string | null
  streaming: boolean
}

export interface HistorySyncAck extends OkAck {
  task: components['schemas']['TaskDetailPublic']
}

export interface ChatResumeAck extends OkAck {
  replayed: number
}

export interface ChatSendAck extends OkAck {
  task_id: number
  message_id: number
  turn: number
}

/** A decision (`chat:send` with an action) or `chat:cancel`: the task's state after it. */
export interface TaskStateAck extends OkAck {
  task_id: number
  state: string
}

/** What each server event carries. */
export interface ServerEventPayloads {
  'chat:start': ChatStart
  'chat:chunk': ChatChunk
  'chat:tool': ChatTool
  'chat:message': ChatMessage
  'chat:done': ChatDone
  'chat:error': ChatError
  'chat:cancelled': ChatCancelled
  'task:status': TaskStatus
  'task:created': TaskCreated
  'auth:error': AuthError
}

/** What each client event sends. */
export interface ClientEventRequests {
  'task:join': TaskRequest
  'task:leave': TaskRequest
  'history:sync': TaskRequest
  'chat:send': ChatSendRequest
  'chat:resume': ChatResumeRequest
  'chat:cancel': TaskRequest
}

/** The ack each client event gets: one of its own, or an ErrorAck. */
export interface ClientEventAcks {
  'task:join': TaskJoinAck | ErrorAck
  'task:leave': OkAck | ErrorAck
  'history:sync': HistorySyncAck | ErrorAck
  'chat:send': ChatSendAck | TaskStateAck | ErrorAck
  'chat:resume': ChatResumeAck | ErrorAck
  'chat:cancel': TaskStateAck | ErrorAck
}
