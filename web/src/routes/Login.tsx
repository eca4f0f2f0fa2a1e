import { Alert, Button, Card, Form, Input, Typography } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { Navigate, useLocation } from 'react-router'

import { ApiError } from '../client'
import { LanguageSwitch } from '../components/LanguageSwitch'
import { expiredUsername, landingAfterSignIn, signIn, takeNotice, useToken } from '../lib/auth'
import { errorMessage } from '../lib/errors'
import { nextPath } from '../lib/session'

export function Login() {
  const { t } = useTranslation()
  const token = useToken()
  // A deep link opened without a session (`/login?next=/tasks/12`): signing in lands there.
  const next = nextPath(useLocation().search)
  const [notice] = useState(takeNotice)
  // After an expired session: its account's name is filled in, so only the password is left to type.
  const [username] = useState(expiredUsername)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  if (token) return <Navigate to={landingAfterSignIn()} replace />

  return (
    <div className="login-page">
      <div style={{ position: 'absolute', top: 16, right: 16 }}>
        <LanguageSwitch />
      </div>
      <Card style={{ width: 'min(380px, 92vw)' }}>
        <Typography.Title level={3} style={{ textAlign: 'center' }}>
          {t('login.title')}
        </Typography.Title>
        {notice ? (
          <Alert
            type="info"
            showIcon
            role="status"
            message={<span data-testid="login-notice">{t(notice)}</span>}
            description={notice === 'login.expired' && username ? t('login.expiredReturn') : undefined}
            style={{ marginBottom: 16 }}
          />
        ) : null}
        {error ? <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="login-error" /> : null}
        <Form
          layout="vertical"
          requiredMark={false}
          initialValues={{ username: username ?? '' }}
          onFinish={async (values: { username: string; password: string }) => {
            setBusy(true)
            setError(null)
            try {
              await signIn(values.username, values.password, next)
            } catch (err) {
              setError(err instanceof ApiError && err.status === 401 ? t('login.failed') : errorMessage(t, err))
            } finally {
              setBusy(false)
            }
          }}
        >
          <Form.Item
            name="username"
            label={t('login.username')}
            rules={[{ required: true, message: t('login.required', { field: t('login.username') }) }]}
          >
            <Input autoComplete="username" autoFocus={!username} data-testid="username" />
          </Form.Item>
          <Form.Item
            name="password"
            label={t('login.password')}
            rules={[{ required: true, message: t('login.required', { field: t('login.password') }) }]}
          >
            <Input.Password autoComplete="current-password" autoFocus={!!username} data-testid="password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy} data-testid="sign-in">
            {t('login.submit')}
          </Button>
        </Form>
      </Card>
    </div>
  )
}
