import { PlusOutlined } from '@ant-design/icons'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { App, Button, Form, Input, Layout, Modal, Select, Space, Switch, Table, Tag, Typography } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'

import { api, unwrap, type UserOut } from '../client'
import { AppHeader } from '../components/AppHeader'
import { useMe } from '../hooks/useMe'
import { errorMessage } from '../lib/errors'

/** Admins: users (create, disable, promote or demote, reset a password). */
export function Admin() {
  const { t } = useTranslation()
  const { message } = App.useApp()
  const client = useQueryClient()
  const me = useMe()
  const users = useQuery({ queryKey: ['admin', 'users'], queryFn: () => unwrap(api.GET('/api/v1/admin/users')) })
  const [creating, setCreating] = useState(false)
  const [resetting, setResetting] = useState<UserOut | null>(null)

  const update = async (user: UserOut, body: { role?: 'admin' | 'user'; is_active?: boolean; password?: string }) => {
    try {
      await unwrap(api.PATCH('/api/v1/admin/users/{user_id}', { params: { path: { user_id: user.id } }, body }))
      void message.success(t('admin.updated', { name: user.username }))
      void client.invalidateQueries({ queryKey: ['admin', 'users'] })
      return true
    } catch (err) {
      void message.error(errorMessage(t, err))
      return false
    }
  }

  return (
    <Layout className="app-layout">
      <AppHeader />
      <Layout.Content className="resources-page" data-testid="admin-page">
        <Space style={{ justifyContent: 'space-between', width: '100%' }} wrap>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t('admin.title')}
          </Typography.Title>
          <Button type="primary" icon={<PlusOutlined />} aria-haspopup="dialog" onClick={() => setCreating(true)} data-testid="create-user">
            {t('admin.create')}
          </Button>
        </Space>
        <Table<UserOut>
          data-testid="user-table"
          style={{ marginTop: 16 }}
          size="middle"
          rowKey="id"
          loading={users.isPending}
          dataSource={[...(users.data ?? [])].sort((a, b) => b.id - a.id)} // newest first
          pagination={{ pageSize: 20, hideOnSinglePage: true }}
          scroll={{ x: true }}
          columns={[
            { title: t('login.username'), dataIndex: 'username' },
            {
              title: t('admin.role'),
              render: (_, u) => (
                <Select
                  size="small"
                  aria-label={t('admin.roleFor', { name: u.username })}
                  value={u.role as 'admin' | 'user'}
                  disabled={u.id === me.data?.id}
                  onChange={(role: 'admin' | 'user') => void update(u, { role })}
                  options={[
                    { value: 'user', label: t('admin.roles.user') },
                    { value: 'admin', label: t('admin.roles.admin') },
                  ]}
                  style={{ width: 120 }}
                />
              ),
            },
            {
              title: t('admin.active'),
              render: (_, u) => (
                <Switch
                  size="small"
                  aria-label={t('admin.activeFor', { name: u.username })}
                  checked={u.is_active}
                  disabled={u.id === me.data?.id}
                  onChange={(is_active) => void update(u, { is_active })}
                  data-testid="active-switch"
                />
              ),
            },
            { title: t('admin.created'), render: (_, u) => new Date(u.created_at).toLocaleString() },
            {
              title: '',
              render: (_, u) => (
                <Space>
                  {u.id === me.data?.id ? <Tag>{t('admin.you')}</Tag> : null}
                  <Button size="small" aria-label={t('admin.resetPasswordFor', { name: u.username })} aria-haspopup="dialog" onClick={() => setResetting(u)}>
                    {t('admin.resetPassword')}
                  </Button>
                </Space>
              ),
            },
          ]}
        />
      </Layout.Content>
      <CreateUser open={creating} onClose={() => setCreating(false)} onCreated={() => void client.invalidateQueries({ queryKey: ['admin', 'users'] })} />
      <Modal
        open={resetting !== null}
        title={t('admin.resetFor', { name: resetting?.username ?? '' })}
        onCancel={() => setResetting(null)}
        footer={null}
        destroyOnHidden
      >
        <Form
          layout="vertical"
          onFinish={async (values: { password: string }) => {
            if (resetting && (await update(resetting, { password: values.password }))) setResetting(null)
          }}
        >
          <Form.Item name="password" label={t('login.password')} rules={[{ required: true, min: 12, message: t('admin.passwordRule') }]}>
            <Input.Password autoComplete="new-password" autoFocus data-testid="reset-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit">
            {t('admin.resetPassword')}
          </Button>
        </Form>
      </Modal>
    </Layout>
  )
}

function CreateUser({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: () => void }) {
  const { t } = useTranslation()
  const { message } = App.useApp()
  return (
    <Modal open={open} title={t('admin.create')} onCancel={onClose} footer={null} destroyOnHidden>
      <Form
        layout="vertical"
        initialValues={{ role: 'user' }}
        onFinish={async (values: { username: string; password: string; role: 'admin' | 'user' }) => {
          try {
            await unwrap(api.POST('/api/v1/admin/users', { body: values }))
            void message.success(t('admin.createdUser', { name: values.username }))
            onCreated()
            onClose()
          } catch (err) {
            void message.error(errorMessage(t, err))
          }
        }}
      >
        <Form.Item name="username" label={t('login.username')} rules={[{ required: true, pattern: /^[A-Za-z0-9_.@-]+$/, message: t('admin.usernameRule') }]}>
          <Input data-testid="new-username" autoComplete="off" autoFocus />
        </Form.Item>
        <Form.Item name="password" label={t('login.password')} rules={[{ required: true, min: 12, message: t('admin.passwordRule') }]}>
          <Input.Password data-testid="new-password" autoComplete="new-password" />
        </Form.Item>
        <Form.Item name="role" label={t('admin.role')}>
          <Select options={[{ value: 'user', label: t('admin.roles.user') }, { value: 'admin', label: t('admin.roles.admin') }]} />
        </Form.Item>
        <Button type="primary" htmlType="submit" data-testid="submit-user">
          {t('admin.create')}
        </Button>
      </Form>
    </Modal>
  )
}
