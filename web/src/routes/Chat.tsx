import { Alert, Drawer, Grid, Layout } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { useParams } from 'react-router'

import { AppHeader } from '../components/AppHeader'
import { NewChat } from '../components/NewChat'
import { TaskSidebar } from '../components/TaskSidebar'
import { TaskThread } from '../components/TaskThread'
import { useSocket } from '../hooks/useSocket'
import { useLiveTaskList } from '../hooks/useTasks'

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
      <AppHeader onMenu={() => setDrawer(true)} />
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
