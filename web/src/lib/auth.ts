/** The signed-in session: the access token from POST /auth/login, kept in localStorage. */
import { useSyncExternalStore } from 'react'

import { api, setApiToken, setUnauthorizedHandler, unwrap } from '../client'
import { landingPath, parseRecord, signInPath, tokenSubject, type ReturnRecord } from './session'

const TOKEN_KEY = 'wegent.token'
const USERNAME_KEY = 'wegent.username'
const NOTICE_KEY = 'wegent.notice'
const RETURN_KEY = 'wegent.return'
const DRAFT_PREFIX = 'wegent.draft.'

let current: string | null = typeof localStorage !== 'undefined' ? localStorage.getItem(TOKEN_KEY) : null
let landing = '/'
// Whether a session ended while this page was open (expired, revoked or signed out): the sign-in page that
// follows is not a deep link's, so it asks to come back nowhere (lib/auth's return record covers an expiry).
let endedHere = false
const listeners = new Set<() => void>()
setApiToken(current)

function set(value: string | null): void {
  current = value
  setApiToken(value)
  if (value) localStorage.setItem(TOKEN_KEY, value)
  else localStorage.removeItem(TOKEN_KEY)
  listeners.forEach((l) => l())
}

/**
 * Sign in. `next` is the page a deep link asked for (`/login?next=…`, checked by the caller): any account lands
 * there. Without one, the page an expired session left, when the same account signs in again; anyone else
 * starts afresh.
 */
export async function signIn(username: string, password: string, next: string | null = null): Promise<void> {
  const body = await unwrap(api.POST('/api/v1/auth/login', { body: { username, password } }))
  sessionStorage.removeItem(NOTICE_KEY)
  landing = next ?? landingPath(returnRecord(), body.access_token)
  sessionStorage.removeItem(RETURN_KEY)
  localStorage.setItem(USERNAME_KEY, username)
  set(body.access_token)
}

/**
 * Sign out. `notice` (an i18n key) is shown on the sign-in page: a session that ended on its own (the token
 * expired or was revoked) passes one, and the page the user was on is remembered for when they sign in again.
 */
export function signOut(notice?: string): void {
  if (current === null) return // already signed out (several refused requests report the same end)
  endedHere = true
  if (notice) {
    sessionStorage.setItem(NOTICE_KEY, notice)
    const record: ReturnRecord = {
      path: window.location.pathname + window.location.search,
      subject: tokenSubject(current),
      username: localStorage.getItem(USERNAME_KEY),
    }
    sessionStorage.setItem(RETURN_KEY, JSON.stringify(record))
  } else {
    sessionStorage.removeItem(RETURN_KEY)
    localStorage.removeItem(USERNAME_KEY)
    forgetDrafts()
  }
  landing = '/'
  set(null)
}

export function takeNotice(): string | null {
  const notice = sessionStorage.getItem(NOTICE_KEY)
  sessionStorage.removeItem(NOTICE_KEY)
  return notice
}

/** The current token, outside React (e.g. to tell an unmount at sign-out from any other). */
export function currentToken(): string | null {
  return current
}

/**
 * Where the unsent text of a message box (`scope`: a task id, or "new") is kept for this tab, per account: it
 * survives the session ending and a reload, and is never shown to another account. Null when signed out.
 */
export function draftKey(scope: string): string | null {
  const subject = tokenSubject(current)
  return subject === null ? null : `${DRAFT_PREFIX}${subject}.${scope}`
}

function forgetDrafts(): void {
  for (const key of Object.keys(sessionStorage)) if (key.startsWith(DRAFT_PREFIX)) sessionStorage.removeItem(key)
}

function returnRecord(): ReturnRecord | null {
  return parseRecord(sessionStorage.getItem(RETURN_KEY))
}

/** The name of the account whose session expired, to fill the sign-in form with. */
export function expiredUsername(): string | null {
  return returnRecord()?.username ?? null
}

/**
 * The sign-in page for a signed-out visit to `path`: a link opened without a session (a deep link) comes back
 * to it after signing in; a session that ended here does not (its return, if any, is the return record's).
 */
export function signInFor(path: string): string {
  return endedHere ? '/login' : signInPath(path)
}

/** Where the sign-in page sends the user once signed in. */
export function landingAfterSignIn(): string {
  return landing
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
