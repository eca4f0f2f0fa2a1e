import { useQuery } from '@tanstack/react-query'

import { api, unwrap } from '../client'
import { useToken } from '../lib/auth'

/** The signed-in account (GET /users/me): its name and role. */
export function useMe() {
  const token = useToken()
  return useQuery({
    queryKey: ['me', token],
    enabled: !!token,
    staleTime: 60_000,
    queryFn: () => unwrap(api.GET('/api/v1/users/me')),
  })
}
