import { type InfiniteData, useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect } from 'react'
import type { Socket } from 'socket.io-client'

import { api, listTeams, unwrap, type TaskList } from '../client'
import { ServerEvent } from '../client/realtime'

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

/**
 * Keep the task list live from the user's room: `task:status` updates the task's badge in place at once, and
 * the list is re-read at most every 1.5 s (a filtered list may gain or lose it); `task:created` re-reads it.
 */
export function useLiveTaskList(socket: Socket | null): void {
  const client = useQueryClient()
  useEffect(() => {
    if (!socket) return
    let timer: ReturnType<typeof setTimeout> | null = null
    const refresh = () => void client.invalidateQueries({ queryKey: ['tasks'] })
    const refreshSoon = () => {
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null
          refresh()
        }, 1500)
      }
    }
    const onStatus = (ev: { task_id: number; state: string; error?: string | null }) => {
      client.setQueriesData<InfiniteData<TaskList>>({ queryKey: ['tasks'] }, (data) =>
        data
          ? {
              ...data,
              pages: data.pages.map((page) => ({
                ...page,
                items: page.items.map((task) =>
                  task.id === ev.task_id ? { ...task, state: ev.state, error: ev.error ?? task.error } : task,
                ),
              })),
            }
          : data,
      )
      refreshSoon()
    }
    socket.on(ServerEvent.TASK_CREATED, refresh)
    socket.on(ServerEvent.TASK_STATUS, onStatus)
    socket.on('connect', refresh)
    return () => {
      if (timer !== null) clearTimeout(timer)
      socket.off(ServerEvent.TASK_CREATED, refresh)
      socket.off(ServerEvent.TASK_STATUS, onStatus)
      socket.off('connect', refresh)
    }
  }, [socket, client])
}

export function useTeams() {
  return useQuery({ queryKey: ['teams'], queryFn: () => listTeams() })
}
