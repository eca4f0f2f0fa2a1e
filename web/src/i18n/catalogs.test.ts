import { describe, expect, it } from 'vitest'

import en from './locales/en.json'
import zhCN from './locales/zh-CN.json'

type Catalog = { [key: string]: string | Catalog }

function flatten(catalog: Catalog, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [key, value] of Object.entries(catalog)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (typeof value === 'string') out.set(path, value)
    else for (const [k, v] of flatten(value, path)) out.set(k, v)
  }
  return out
}

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort()
}

describe('i18n catalogs', () => {
  const english = flatten(en as Catalog)
  const chinese = flatten(zhCN as Catalog)

  it('every en key exists in zh-CN, and no key is only in zh-CN', () => {
    expect([...english.keys()].filter((k) => !chinese.has(k))).toEqual([])
    expect([...chinese.keys()].filter((k) => !english.has(k))).toEqual([])
  })

  it('no string is empty', () => {
    for (const catalog of [english, chinese]) {
      expect([...catalog].filter(([, v]) => v.trim() === '').map(([k]) => k)).toEqual([])
    }
  })

  it('translations keep the same placeholders', () => {
    for (const [key, value] of english) {
      expect([key, placeholders(chinese.get(key) ?? '')]).toEqual([key, placeholders(value)])
    }
  })
})
