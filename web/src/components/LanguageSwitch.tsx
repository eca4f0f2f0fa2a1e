import { Select } from 'antd'
import { useTranslation } from 'react-i18next'

import { LANGUAGES, setLanguage, type Language } from '../i18n'

export function LanguageSwitch() {
  const { t, i18n } = useTranslation()
  return (
    <Select<Language>
      aria-label={t('app.language')}
      data-testid="language-switch"
      size="small"
      value={i18n.language as Language}
      onChange={(code) => void setLanguage(code)}
      options={LANGUAGES.map((l) => ({ value: l.code, label: l.label }))}
      style={{ width: 104 }}
      popupMatchSelectWidth={false}
    />
  )
}
