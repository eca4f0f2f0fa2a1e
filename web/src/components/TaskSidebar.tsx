import { PlusOutlined } from '@ant-design/icons'
import { Button, Empty, Input, Select, Space, Spin, Typography } from 'antd'
import { useMemo, useState } from 'react'
import { useTranslation } from 'react-i18next'
import { Link, useNavigate } from 'react-router'

import type { TaskPublic } from '../client'
import { useTaskList, useTeams } from '../hooks/useTasks'
import { StateBadge } from './StateBadge'

const STATES = ['PENDING', 'RUNNING', 'PENDING_CONFIRMATION', 'COMPLETED', 'FAILED', 'CANCELLED']

export function TaskSidebar({ activeId, onNavigate }: { activeId: number | null; onNavigate?: () => void }) {
  const { t } = useTranslation()
  const navigate = useNavigate()
  const [state, setState] = useState<string | undefined>()
  const [search, setSearch] = useState('')
  const [team, setTeam] = useState<string | undefined>()
  const teams = useTeams()
  const query = useTaskList({ state, team })
  const tasks = useMemo(() => {
    const all: TaskPublic[] = query.data?.pages.flatMap((p) => p.items) ?? []
    const needle = search.trim().toLowerCase()
    return needle ? all.filter((task) => task.title.toLowerCase().includes(needle)) : all
  }, [query.data, search])

  return (
    <div className="sidebar" data-testid="task-sidebar">
      <Button
        type="primary"
        icon={<PlusOutlined />}
        block
        data-testid="new-chat"
        onClick={() => {
          navigate('/')
          onNavigate?.()
        }}
      >
        {t('tasks.newChat')}
      </Button>
      <Space.Compact block style={{ marginTop: 12 }}>
        <Input.Search allowClear placeholder={t('tasks.search')} onChange={(e) => setSearch(e.target.value)} />
      </Space.Compact>
      <Select
        allowClear
        placeholder={t('tasks.allStates')}
        value={state}
        onChange={setState}
        options={STATES.map((s) => ({ value: s, label: t(`state.${s}`) }))}
        style={{ width: '100%', marginTop: 8 }}
      />
      <Select
        allowClear
        showSearch
        placeholder={t('tasks.allTeams')}
        value={team}
        onChange={setTeam}
        options={(teams.data ?? []).map((x) => ({
          value: `${x.metadata.namespace}/${x.metadata.name}`,
          label: x.metadata.name,
        }))}
        style={{ width: '100%', marginTop: 8 }}
      />
      <nav className="task-list" aria-label={t('app.menu')}>
        {query.isPending ? <Spin style={{ margin: 24 }} /> : null}
        {!query.isPending && tasks.length === 0 ? <Empty description={t('tasks.empty')} /> : null}
        {tasks.map((task) => (
          <Link
            key={task.id}
            to={`/tasks/${task.id}`}
            onClick={onNavigate}
            className={`task-item${task.id === activeId ? ' active' : ''}`}
            data-testid="task-item"
            data-task-id={task.id}
          >
            <Typography.Text ellipsis className="task-title">
              {task.title}
            </Typography.Text>
            <div className="task-meta">
              <Typography.Text type="secondary" ellipsis style={{ fontSize: 12 }}>
                {task.team.name}
              </Typography.Text>
              <StateBadge state={task.state} />
            </div>
          </Link>
        ))}
        {query.hasNextPage ? (
          <Button block type="link" loading={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()}>
            {t('tasks.loadMore')}
          </Button>
        ) : null}
      </nav>
    </div>
  )
}
