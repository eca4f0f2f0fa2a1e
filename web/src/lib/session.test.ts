import { describe, expect, it } from 'vitest'

import { landingPath, parseRecord, returnablePath, tokenSubject } from './session'

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
  })
})
