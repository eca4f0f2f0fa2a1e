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

/** A path inside the app worth returning to: same origin, not the sign-in page itself. */
export function returnablePath(path: string): boolean {
  return path.startsWith('/') && !path.startsWith('//') && !/^\/login(?:[/?#]|$)/.test(path)
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
