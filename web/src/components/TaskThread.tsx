import { LinkOutlined, StopOutlined } from '@ant-design/icons'
import { Alert, App, Button, Space, Spin, Typography } from 'antd'
import { lazy, Suspense, useEffect, useRef } from 'react'
import { useTranslation } from 'react-i18next'
import type { Socket } from 'socket.io-client'

import { useTaskStream } from '../hooks/useTaskStream'
import { useTeams } from '../hooks/useTasks'
import { draftKey } from '../lib/auth'
import { errorMessage } from '../lib/errors'
import { call, type Ack } from '../lib/socket'
import { Composer } from './Composer'
import { MessageBubble } from './MessageBubble'
import { StateBadge } from './StateBadge'
import { ClientEvent } from '../client/realtime'

const ACTIVE = new Set(['PENDING', 'RUNNING'])

// Needed only in some states (or when opened): their own chunks keep the chat route's first load small.
const ConfirmPanel = lazy(() => import('./ConfirmPanel').then((m) => ({ default: m.ConfirmPanel })))
const RetryButton = lazy(() => import('./RetryButton').then((m) => ({ default: m.RetryButton })))
const TaskTimeline = lazy(() => import('./TaskTimeline').then((m) => ({ default: m.TaskTimeline })))

export function TaskThread({ socket, taskId }: { socket: Socket | null; taskId: number }) {
  const { t } = useTranslation()
  const { message } = App.useApp()
  const { task, messages, failure, addUserMessage, version } = useTaskStream(socket, taskId)
  const bottom = useRef<HTMLDivElement>(null)
  const teams = useTeams()

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: 'end' })
  }, [version])

  if (failure && !task) {
    return <Alert type="error" showIcon message={t('thread.notFound')} style={{ margin: 24 }} />
  }
  if (!task || !socket) return <Spin style={{ margin: 48 }} />

  // Each bot's role in the team (or, in a pipeline, its stage), for the label on its answers.
  const team = teams.data?.find((x) => x.metadata.name === task.team.name && x.metadata.namespace === task.team.namespace)
  const labels = new Map(
    (team?.spec.members ?? []).map((m, i) => [
      m.botRef.name,
      [
        task.collaborationModel === 'pipeline' ? t('thread.stage', { stage: i + 1 }) : null,
        m.role && m.role !== 'member' ? m.role : null,
      ]
        .filter(Boolean)
        .join(' · ') || null,
    ]),
  )
  const running = ACTIVE.has(task.state)
  const waiting = task.state === 'PENDING_CONFIRMATION'
  const act = async (event: string, data: Record<string, unknown>, done?: string) => {
    try {
      await call(socket, event, { task_id: taskId, ...data })
      if (done) void message.success(done)
    } catch (err) {
      void message.error(errorMessage(t, err))
    }
  }
  const lastAnswer = [...messages].reverse().find((m) => m.role === 'assistant' && m.status === 'done')

  return (
    <div className="thread-wrap">
      <div className="thread-header">
        <Space wrap size={8} style={{ minWidth: 0 }}>
          <Typography.Title level={4} style={{ margin: 0 }} ellipsis data-testid="task-title">
            {task.title}
          </Typography.Title>
          <span data-testid="task-state" data-state={task.state}>
            <StateBadge state={task.state} />
          </span>
          <Typography.Text type="secondary">
            {task.team.name} · {task.collaborationModel}
          </Typography.Text>
        </Space>
        <Space wrap size={8}>
          {running ? (
            <Button danger icon={<StopOutlined />} data-testid="stop" onClick={() => void act(ClientEvent.CHAT_CANCEL, {}, t('actions.stopped'))}>
              {t('composer.stop')}
            </Button>
          ) : null}
          {task.state === 'FAILED' ? (
            <Suspense fallback={null}>
              <RetryButton taskId={taskId} />
            </Suspense>
          ) : null}
          <Button type="link" icon={<LinkOutlined />} href={task.consoleUrl} target="_blank" rel="noreferrer" data-testid="console-link">
            {t('thread.console')}
          </Button>
        </Space>
      </div>
      <div className="thread" data-testid="thread">
        <Suspense fallback={null}>
          <TaskTimeline steps={task.steps} messages={messages} />
        </Suspense>
        {messages.map((m) => (
          <MessageBubble
            key={m.id}
            message={m}
            content={m.content}
            status={m.status}
            tools={m.tools}
            label={m.bot ? labels.get(m.bot) : null}
          />
        ))}
        {task.state === 'FAILED' ? (
          <Alert type="error" showIcon message={t('actions.retryHint')} description={task.error ?? undefined} />
        ) : null}
        {waiting ? (
          <Suspense fallback={<Spin />}>
          <ConfirmPanel
            key={lastAnswer?.id ?? 0}
            output={lastAnswer?.content ?? ''}
            onDecide={(approve, text) =>
              act(ClientEvent.CHAT_SEND, { action: approve ? 'approve' : 'reject', message: text || undefined })
            }
          />
          </Suspense>
        ) : null}
        <div ref={bottom} />
      </div>
      <Composer
        draftKey={draftKey(String(taskId))}
        placeholder={t('composer.followUp')}
        running={running}
        disabledReason={running ? t('composer.running') : waiting ? t('composer.waiting') : null}
        onStop={() => void act(ClientEvent.CHAT_CANCEL, {}, t('actions.stopped'))}
        onSend={async (text) => {
          try {
            const ack = await call<Ack & { message_id: number; turn: number }>(socket, ClientEvent.CHAT_SEND, {
              task_id: taskId,
              message: text,
            })
            addUserMessage(ack.message_id, ack.turn, text)
            return true
          } catch (err) {
            void message.error(errorMessage(t, err))
            return false
          }
        }}
      />
    </div>
  )
}
