import { AppstoreOutlined, BarChartOutlined, ClockCircleOutlined, LogoutOutlined, MenuOutlined, MessageOutlined, TeamOutlined } from '@ant-design/icons'
import { Button, Grid, Layout, Segmented, Space, Typography } from 'antd'
import { useTranslation } from 'react-i18next'
import { useEffect, useRef } from 'react'
import { useLocation, useNavigate } from 'react-router'

import { useMe } from '../hooks/useMe'
import { signOut } from '../lib/auth'
import { LanguageSwitch } from './LanguageSwitch'

/** The bar on every signed-in page: the drawer button on a phone, the sections, language, sign out. */
export function AppHeader({ onMenu }: { onMenu?: () => void }) {
  const { t } = useTranslation()
  const narrow = !Grid.useBreakpoint().md
  const location = useLocation()
  const navigate = useNavigate()
  const admin = useMe().data?.role === 'admin'
  const section = ['/resources', '/schedules', '/usage', '/admin'].find((p) => location.pathname.startsWith(p)) ?? '/'
  const sections = useRef<HTMLDivElement>(null)
  // A section changed from the keyboard (arrow keys) renders a new page with a new header: the focus stays on
  // the sections, so the next arrow key moves on again.
  const fromKeyboard = (location.state as { sectionsFocus?: boolean } | null)?.sectionsFocus === true
  useEffect(() => {
    if (fromKeyboard) sections.current?.querySelector<HTMLInputElement>('input:checked')?.focus()
  }, [fromKeyboard])
  return (
    <Layout.Header className="app-header">
      <Space size={8}>
        {narrow && onMenu ? (
          <Button type="text" icon={<MenuOutlined />} aria-label={t('app.menu')} data-testid="open-drawer" onClick={onMenu} />
        ) : null}
        {narrow ? null : (
          <Typography.Title level={4} style={{ margin: 0 }}>
            {t('app.name')}
          </Typography.Title>
        )}
        <Segmented
          ref={sections}
          data-testid="sections"
          aria-label={t('app.sections')}
          // The group itself is no tab stop (its arrow keys act on the options): Tab goes to the current option.
          tabIndex={-1}
          value={section}
          onChange={(value) =>
            navigate(value, {
              state: { sectionsFocus: !!sections.current?.contains(document.activeElement) },
            })
          }
          options={[
            { value: '/', label: t('app.chat'), icon: <MessageOutlined /> },
            { value: '/resources', label: t('app.resources'), icon: <AppstoreOutlined /> },
            { value: '/schedules', label: t('app.schedules'), icon: <ClockCircleOutlined /> },
            { value: '/usage', label: t('app.usage'), icon: <BarChartOutlined /> },
            ...(admin ? [{ value: '/admin', label: t('app.admin'), icon: <TeamOutlined /> }] : []),
          ].map((o) => (narrow ? { value: o.value, icon: o.icon, title: o.label } : o))}
        />
      </Space>
      <Space size={8}>
        <LanguageSwitch />
        <Button type="text" icon={<LogoutOutlined />} onClick={() => signOut()} data-testid="sign-out" aria-label={t('app.signOut')}>
          {narrow ? null : t('app.signOut')}
        </Button>
      </Space>
    </Layout.Header>
  )
}
