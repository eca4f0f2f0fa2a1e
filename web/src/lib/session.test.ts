import { describe, expect, it } from 'vitest'

import { landingPath, nextPath, parseRecord, returnablePath, signInPath, tokenSubject } from './session'

function token(claims: object): string {
  const encode = (o: object) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  return `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}.signature`
}

describe('session return', () => {
  it('reads the subject of a token, and nothing of a malformed one', () => {
    expect(tokenSubject(token({ sub: '42', role: 'user', ver: 1 }))).toBe('42')
    expect(tokenSubject('expired.or.forged')).toBeNull()
    expect(tokenSubject('no-dots')).toBeNull()
    expect(tokenSubject(null)).toBeNull()
  })

  it('the same account lands back where it was; another account, or an unreadable record, starts afresh', () => {
    const record = { path: '/tasks/12', subject: '42', username: 'ann' }
    expect(landingPath(record, token({ sub: '42' }))).toBe('/tasks/12')
    expect(landingPath(record, token({ sub: '43' }))).toBe('/')
    expect(landingPath({ ...record, subject: null }, token({ sub: '42' }))).toBe('/')
    expect(landingPath(null, token({ sub: '42' }))).toBe('/')
    expect(landingPath(parseRecord('not json'), token({ sub: '42' }))).toBe('/')
    expect(parseRecord(JSON.stringify(record))).toEqual(record)
  })

  it('returns only to a page of this app, never to another site or the sign-in page', () => {
    expect(returnablePath('/resources/bots?x=1')).toBe(true)
    expect(returnablePath('//evil.example/')).toBe(false)
    expect(returnablePath('https://evil.example/')).toBe(false)
    expect(returnablePath('/login')).toBe(false)
    expect(returnablePath('/login?next=1')).toBe(false)
    const record = { path: '//evil.example/', subject: '42', username: null }
    expect(landingPath(record, token({ sub: '42' }))).toBe('/')
    // However the other site is spelled, and paths that are no page of the app (the API, the docs).
    for (const path of ['/\\evil.example', '/\t/evil.example', '/%2F%2Fevil.example', 'javascript:alert(1)', '/api/v1/users/me', '/docs', '/tasks/12/../../docs']) {
      expect(returnablePath(path), path).toBe(false)
    }
    for (const path of ['/', '/tasks/12', '/resources', '/schedules', '/usage?period=7d', '/admin']) {
      expect(returnablePath(path), path).toBe(true)
    }
  })
})

describe('deep links', () => {
  it('a page opened without a session asks the sign-in page to come back to it', () => {
    expect(signInPath('/tasks/12')).toBe('/login?next=%2Ftasks%2F12')
    expect(signInPath('/usage?period=7d')).toBe('/login?next=%2Fusage%3Fperiod%3D7d')
    expect(nextPath('?next=%2Ftasks%2F12')).toBe('/tasks/12')
    expect(nextPath(signInPath('/usage?period=7d').slice('/login'.length))).toBe('/usage?period=7d')
  })

  it('the chat, the sign-in page or an outside address is never asked for', () => {
    expect(signInPath('/')).toBe('/login')
    expect(signInPath('/login')).toBe('/login')
    expect(nextPath('')).toBeNull()
    expect(nextPath('?next=https%3A%2F%2Fevil.example%2F')).toBeNull()
    expect(nextPath('?next=%2F%2Fevil.example')).toBeNull()
    expect(nextPath('?next=%2F%5Cevil.example')).toBeNull()
    expect(nextPath('?next=%2Flogin')).toBeNull()
  })
})
