/** One Socket.IO connection to the `/chat` namespace per signed-in session. */
import { io, type Socket } from 'socket.io-client'
import { NAMESPACE } from '../client/realtime'

export interface Ack {
  ok: boolean
  error?: string
  status?: number
  field?: string
  [key: string]: unknown
}

let socket: Socket | null = null
let socketToken: string | null = null

export function getSocket(token: string): Socket {
  if (socket && socketToken === token) return socket
  socket?.disconnect()
  socketToken = token
  // Websocket only: with several API processes on one port (`wegent api --workers N`) long-polling is refused.
  socket = io(NAMESPACE, { path: '/socket.io', transports: ['websocket'], auth: { token }, reconnectionDelayMax: 3000 })
  // For the browser tests (and a curious developer's console): drop the transport to exercise a reconnect.
  ;(globalThis as { __wegentSocket?: Socket }).__wegentSocket = socket
  return socket
}

export function closeSocket(): void {
  socket?.disconnect()
  socket = null
  socketToken = null
}

/** Emit with an ack; a refusal (`{ok: false}`) or a timeout rejects. */
export async function call<T extends Ack = Ack>(s: Socket, event: string, data: unknown, timeoutMs = 20000): Promise<T> {
  const ack = (await s.timeout(timeoutMs).emitWithAck(event, data)) as T
  if (!ack || !ack.ok) throw ack ?? { ok: false, error: 'no answer' }
  return ack
}
