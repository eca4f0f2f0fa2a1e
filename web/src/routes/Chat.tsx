import { LogoutOutlined, MenuOutlined } from '@ant-design/icons'
import { Alert, Button, Drawer, Grid, Layout, Space, Typography } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { useParams } from 'react-router'

import { LanguageSwitch } from '../components/LanguageSwitch'
import { NewChat } from '../components/NewChat'
import { TaskSidebar } from '../components/TaskSidebar'
import { TaskThread } from '../components/TaskThread'
import { useSocket } from '../hooks/useSocket'
import { useLiveTaskList } from '../hooks/useTasks'
import { signOut } from '../lib/auth'

/** The main page: the task list (a drawer on a phone) and the open task's thread, or a new chat. */
export function Chat() {
  const { t } = useTranslation()
  const params = useParams()
  const taskId = params.taskId && /^\d+$/.test(params.taskId) ? Number(params.taskId) : null
  const { socket, live } = useSocket()
  useLiveTaskList(socket)
  const screens = Grid.useBreakpoint()
  const narrow = !screens.md
  const [drawer, setDrawer] = useState(false)
  const sidebar = <TaskSidebar activeId={taskId} onNavigate={() => setDrawer(false)} />

  return (
    <Layout className="app-layout">
      <Layout.Header className="app-header">
        <Space size={8}>
          {narrow ? (
            <Button type="text" icon={<MenuOutlined />} aria-label={t('app.menu')} data-testid="open-drawer" onClick={() => setDrawer(true)} />
          ) : null}
          <Typography.Title level={4} style={{ margin: 0 }}>
            {t('app.name')}
          </Typography.Title>
        </Space>
        <Space size={8}>
          <LanguageSwitch />
          <Button type="text" icon={<LogoutOutlined />} onClick={() => signOut()} data-testid="sign-out">
            {narrow ? null : t('app.signOut')}
          </Button>
        </Space>
      </Layout.Header>
      {live === 'disconnected' ? (
        <Alert type="warning" banner message={t('live.disconnected')} data-testid="live-banner" />
      ) : null}
      <Layout className="app-body">
        {narrow ? (
          <Drawer placement="left" open={drawer} onClose={() => setDrawer(false)} width={300} title={t('app.menu')}>
            {sidebar}
          </Drawer>
        ) : (
          <Layout.Sider width={300} theme="light" className="app-sider">
            {sidebar}
          </Layout.Sider>
        )}
        <Layout.Content className="app-content">
          {taskId !== null ? <TaskThread key={taskId} socket={socket} taskId={taskId} /> : <NewChat socket={socket} />}
        </Layout.Content>
      </Layout>
    </Layout>
  )
}
