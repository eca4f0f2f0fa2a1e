/**
 * Where to go after signing in again: when a session ends on its own (the token expired or was revoked) the
 * page the user was on is remembered with the account it belonged to, and the same account signing in again
 * lands back there. Anyone else starts afresh. Pure functions: lib/auth.ts keeps the record in sessionStorage.
 */

export interface ReturnRecord {
  /** The path (with query) the user was on. */
  path: string
  /** The account (the token's `sub`) the page belonged to; null when it could not be read. */
  subject: string | null
  /** The name the user signed in with, to fill the sign-in form. */
  username: string | null
}

/** The `sub` claim of a JWT, without verifying it (the API does that); null for anything unreadable. */
export function tokenSubject(token: string | null): string | null {
  const part = token?.split('.')[1]
  if (!part) return null
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='))
    const sub = (JSON.parse(json) as { sub?: unknown }).sub
    return typeof sub === 'string' || typeof sub === 'number' ? String(sub) : null
  } catch {
    return null
  }
}

// The app's pages (App.tsx's routes): the only places a sign-in may lead to. Anything else lands on the chat.
const APP_PAGE = /^\/(?:tasks\/\d+|resources(?:\/[a-z]+)?|schedules|usage|admin)?$/

/**
 * A page of this app worth returning to: same origin, one of the app's pages (never the sign-in page itself,
 * an API path, or another site, however spelled: `//host`, `/\\host`, an encoded or absolute URL).
 */
export function returnablePath(path: string): boolean {
  if (!path.startsWith('/') || /[\\\u0000-\u001f]/.test(path)) return false
  try {
    const base = 'http://app.invalid'
    const url = new URL(path, base)
    return url.origin === base && APP_PAGE.test(url.pathname)
  } catch {
    return false
  }
}

/** The page a sign-in link asks for (`/login?next=/tasks/12`), when it is one to go to; null otherwise. */
export function nextPath(search: string): string | null {
  const next = new URLSearchParams(search).get('next')
  return next !== null && returnablePath(next) ? next : null
}

/** The sign-in page, asking to come back to `path` (a deep link opened without a session) when worth it. */
export function signInPath(path: string): string {
  return path !== '/' && returnablePath(path) ? `/login?next=${encodeURIComponent(path)}` : '/login'
}

/** The page to land on after `token` signed in, given what was remembered when the last session ended. */
export function landingPath(record: ReturnRecord | null, token: string): string {
  if (!record || !returnablePath(record.path)) return '/'
  const subject = tokenSubject(token)
  return subject !== null && subject === record.subject ? record.path : '/'
}

export function parseRecord(text: string | null): ReturnRecord | null {
  if (!text) return null
  try {
    const value = JSON.parse(text) as Partial<ReturnRecord>
    if (typeof value.path !== 'string') return null
    return {
      path: value.path,
      subject: typeof value.subject === 'string' ? value.subject : null,
      username: typeof value.username === 'string' ? value.username : null,
    }
  } catch {
    return null
  }
}
