import { useEffect, useState } from 'react'
import type { Socket } from 'socket.io-client'

import { currentToken, signOut, useToken } from '../lib/auth'
import { closeSocket, getSocket } from '../lib/socket'
import { ServerEvent } from '../client/realtime'

export type LiveState = 'connecting' | 'connected' | 'disconnected'

/** The chat socket of the signed-in user, and whether it is connected. */
export function useSocket(): { socket: Socket | null; live: LiveState } {
  const token = useToken()
  const socket = token ? getSocket(token) : null
  const [live, setLive] = useState<LiveState>(socket?.connected ? 'connected' : 'connecting')

  useEffect(() => {
    if (!socket) {
      closeSocket()
      return
    }
    const up = () => setLive('connected')
    const down = () => setLive('disconnected')
    const expired = () => signOut('login.expired')
    const refused = (err: Error) => {
      setLive('disconnected')
      if (/token|auth|expired|signature/i.test(err.message)) signOut('login.expired')
    }
    socket.on('connect', up)
    socket.on('disconnect', down)
    socket.on('connect_error', refused)
    socket.on(ServerEvent.AUTH_ERROR, expired)
    if (socket.connected) up()
    return () => {
      // Signed out (the page goes away with the session): the socket of the old session goes too.
      if (currentToken() === null) closeSocket()
      socket.off('connect', up)
      socket.off('disconnect', down)
      socket.off('connect_error', refused)
      socket.off(ServerEvent.AUTH_ERROR, expired)
    }
  }, [socket])

  return { socket, live }
}
