import { Collapse, Tag, Timeline, Typography } from 'antd'
import { useTranslation } from 'react-i18next'

import type { StepPublic } from '../client'
import type { StreamMessage } from '../lib/streamStore'

const COLORS: Record<string, string> = { streaming: 'blue', done: 'green', error: 'red', cancelled: 'gray' }

function seconds(start: string | null, end: string | null): string | null {
  if (!start) return null
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start)
  return Number.isFinite(ms) && ms >= 0 ? `${(ms / 1000).toFixed(1)} s` : null
}

/** The task's durable steps (turn, step, bot, state, attempt, duration): where a long task is. */
export function TaskTimeline({ steps, messages }: { steps: StepPublic[]; messages: StreamMessage[] }) {
  const { t } = useTranslation()
  const live = new Map(messages.map((m) => [m.id, m.status]))
  const known = new Set(steps.map((s) => s.messageId))
  // Steps that started after the last history read are known from the stream only.
  const extra = messages.filter((m) => m.role === 'assistant' && !known.has(m.id))
  if (!steps.length && !extra.length) return null
  const items = [
    ...steps.map((s) => {
      const state = live.get(s.messageId) ?? s.state
      return {
        key: s.messageId,
        color: COLORS[state] ?? 'gray',
        children: (
          <span data-testid="timeline-step" data-state={state}>
            <Typography.Text strong>{s.bot}</Typography.Text>{' '}
            <Typography.Text type="secondary">
              {t('thread.turn', { turn: s.turn })} · {t('thread.step', { step: s.step + 1 })}
              {s.attempt > 1 ? ` · ${t('thread.attempt', { attempt: s.attempt })}` : ''}
            </Typography.Text>{' '}
            <Tag>{t(`thread.stepState.${state}`, { defaultValue: state })}</Tag>
            {seconds(s.startedAt, s.finishedAt) ?? ''}
          </span>
        ),
      }
    }),
    ...extra.map((m) => ({
      key: m.id,
      color: COLORS[m.status] ?? 'gray',
      children: (
        <span data-testid="timeline-step" data-state={m.status}>
          <Typography.Text strong>{m.bot}</Typography.Text>{' '}
          <Typography.Text type="secondary">{t('thread.step', { step: m.step + 1 })}</Typography.Text>{' '}
          <Tag>{t(`thread.stepState.${m.status}`, { defaultValue: m.status })}</Tag>
        </span>
      ),
    })),
  ]
  return (
    <Collapse
      size="small"
      data-testid="timeline"
      items={[{ key: 'timeline', label: t('thread.timeline', { count: items.length }), children: <Timeline items={items} /> }]}
    />
  )
}
