/** The signed-in session: the access token from POST /auth/login, kept in localStorage. */
import { useSyncExternalStore } from 'react'

import { api, setApiToken, setUnauthorizedHandler, unwrap } from '../client'

const TOKEN_KEY = 'wegent.token'
const NOTICE_KEY = 'wegent.notice'

let current: string | null = typeof localStorage !== 'undefined' ? localStorage.getItem(TOKEN_KEY) : null
const listeners = new Set<() => void>()
setApiToken(current)

function set(value: string | null): void {
  current = value
  setApiToken(value)
  if (value) localStorage.setItem(TOKEN_KEY, value)
  else localStorage.removeItem(TOKEN_KEY)
  listeners.forEach((l) => l())
}

export async function signIn(username: string, password: string): Promise<void> {
  const body = await unwrap(api.POST('/api/v1/auth/login', { body: { username, password } }))
  sessionStorage.removeItem(NOTICE_KEY)
  set(body.access_token)
}

/** Sign out; `notice` (an i18n key) is shown on the sign-in page, e.g. when the token expired. */
export function signOut(notice?: string): void {
  if (notice) sessionStorage.setItem(NOTICE_KEY, notice)
  set(null)
}

export function takeNotice(): string | null {
  const notice = sessionStorage.getItem(NOTICE_KEY)
  sessionStorage.removeItem(NOTICE_KEY)
  return notice
}

setUnauthorizedHandler(() => signOut('login.expired'))

export function useToken(): string | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    () => current,
  )
}
