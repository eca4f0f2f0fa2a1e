import i18n from 'i18next'
import { initReactI18next } from 'react-i18next'

import en from './locales/en.json'

export const LANGUAGES = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
] as const
export type Language = (typeof LANGUAGES)[number]['code']

const STORAGE_KEY = 'wegent.language'

function initialLanguage(): Language {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem(STORAGE_KEY) : null
  if (saved === 'en' || saved === 'zh-CN') return saved
  return typeof navigator !== 'undefined' && navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en } },
  partialBundledLanguages: true,
  lng: 'en',
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
})

/** The Chinese catalog is its own chunk: English-only visitors never download it. */
async function load(code: Language): Promise<void> {
  if (code === 'zh-CN' && !i18n.hasResourceBundle('zh-CN', 'translation')) {
    const zh = await import('./locales/zh-CN.json')
    i18n.addResourceBundle('zh-CN', 'translation', zh.default)
  }
}

/** Before the first render: the language kept from the last visit (or the browser's), with its catalog. */
export async function startLanguage(): Promise<void> {
  const code = initialLanguage()
  await load(code)
  await i18n.changeLanguage(code)
  document.documentElement.lang = code
}

/** Switch the language and keep the choice for later visits. */
export async function setLanguage(code: Language): Promise<void> {
  localStorage.setItem(STORAGE_KEY, code)
  await load(code)
  await i18n.changeLanguage(code)
  document.documentElement.lang = code
}

export default i18n
