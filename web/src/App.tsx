import { QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query'
import { App as AntApp, ConfigProvider } from 'antd'
import enUS from 'antd/locale/en_US'
import { useTranslation } from 'react-i18next'
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router'

import type { Locale } from 'antd/es/locale'
import { lazy, Suspense, useEffect, useState } from 'react'

import { signInFor, useToken } from './lib/auth'

const Chat = lazy(() => import('./routes/Chat').then((m) => ({ default: m.Chat })))
const Resources = lazy(() => import('./routes/Resources').then((m) => ({ default: m.Resources })))
const Usage = lazy(() => import('./routes/Usage').then((m) => ({ default: m.Usage })))
const Schedules = lazy(() => import('./routes/Schedules').then((m) => ({ default: m.Schedules })))
const Admin = lazy(() => import('./routes/Admin').then((m) => ({ default: m.Admin })))
const Login = lazy(() => import('./routes/Login').then((m) => ({ default: m.Login })))

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false, staleTime: 5000 } },
})

/** Nothing read under one session is shown in the next (another account may sign in on this browser). */
function ForgetOnSignOut() {
  const token = useToken()
  const client = useQueryClient()
  useEffect(() => {
    if (!token) client.clear()
  }, [token, client])
  return null
}

/** Signed-out visitors go to the sign-in page, which brings a deep link (`/tasks/12`) back to its page. */
function RequireAuth({ children }: { children: React.ReactNode }) {
  const token = useToken()
  const location = useLocation()
  return token ? children : <Navigate to={signInFor(location.pathname + location.search)} replace />
}

export function App() {
  const { i18n } = useTranslation()
  const [locale, setLocale] = useState<Locale>(enUS)
  useEffect(() => {
    // Ant Design's own texts (pagination, empty tables, date pickers) follow the language, loaded on demand.
    if (i18n.language === 'zh-CN') void import('antd/locale/zh_CN').then((m) => setLocale(m.default))
    else setLocale(enUS)
  }, [i18n.language])
  return (
    <ConfigProvider locale={locale} theme={{ token: { colorPrimary: '#3a5bd9' } }}>
      <AntApp style={{ height: '100%' }}>
        <QueryClientProvider client={queryClient}>
          <ForgetOnSignOut />
          <BrowserRouter>
            <Suspense fallback={null}>
            <Routes>
              <Route path="/login" element={<Login />} />
              <Route path="/" element={<RequireAuth><Chat /></RequireAuth>} />
              <Route path="/tasks/:taskId" element={<RequireAuth><Chat /></RequireAuth>} />
              <Route path="/resources" element={<RequireAuth><Resources /></RequireAuth>} />
              <Route path="/resources/:kind" element={<RequireAuth><Resources /></RequireAuth>} />
              <Route path="/usage" element={<RequireAuth><Usage /></RequireAuth>} />
              <Route path="/schedules" element={<RequireAuth><Schedules /></RequireAuth>} />
              <Route path="/admin" element={<RequireAuth><Admin /></RequireAuth>} />
              <Route path="*" element={<Navigate to="/" replace />} />
            </Routes>
            </Suspense>
          </BrowserRouter>
        </QueryClientProvider>
      </AntApp>
    </ConfigProvider>
  )
}
