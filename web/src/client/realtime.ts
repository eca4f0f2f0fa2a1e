// Generated from wegent/realtime.py by scripts/gen_web_client.sh: never edit it by hand.

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
