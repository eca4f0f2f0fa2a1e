import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect } from 'react'
import type { Socket } from 'socket.io-client'

import { api, listTeams, unwrap, type TaskList } from '../client'

const PAGE = 30

export interface TaskFilter {
  state?: string
  team?: string
}

/** The user's tasks, newest first, page by page. */
export function useTaskList(filter: TaskFilter) {
  return useInfiniteQuery({
    queryKey: ['tasks', filter],
    initialPageParam: 0,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/tasks', {
          params: { query: { limit: PAGE, offset: pageParam, state: filter.state, team: filter.team } },
        }),
      ),
    getNextPageParam: (last: TaskList) => (last.offset + last.limit < last.total ? last.offset + last.limit : undefined),
  })
}

/** Keep the task list live: `task:created` and `task:status` from the user's room refresh it. */
export function useLiveTaskList(socket: Socket | null): void {
  const client = useQueryClient()
  useEffect(() => {
    if (!socket) return
    const refresh = () => void client.invalidateQueries({ queryKey: ['tasks'] })
    socket.on('task:created', refresh)
    socket.on('task:status', refresh)
    socket.on('connect', refresh)
    return () => {
      socket.off('task:created', refresh)
      socket.off('task:status', refresh)
      socket.off('connect', refresh)
    }
  }, [socket, client])
}

export function useTeams() {
  return useQuery({ queryKey: ['teams'], queryFn: () => listTeams() })
}
