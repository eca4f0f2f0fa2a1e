import { useQuery, useQueryClient } from '@tanstack/react-query'
import { App, Button, DatePicker, Form, Layout, Modal, Space, Table, Tag, Typography } from 'antd'
import type { ButtonProps } from 'antd'
import type { Dayjs } from 'dayjs'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { Link } from 'react-router'

import { api, unwrap } from '../client'
import type { components } from '../client/schema'
import { AppHeader } from '../components/AppHeader'
import { StateBadge } from '../components/StateBadge'
import { errorMessage } from '../lib/errors'

type ScheduleView = components['schemas']['SchedulePublic'] & {
  /** The status document (typed loosely by the API): the fields this page shows. */
  status: {
    state?: string
    paused?: boolean
    nextRunTimes?: string[]
    runs?: components['schemas']['ScheduleRunCountsPublic']
    lastRun?: { taskId: number; state: string; scheduledTime?: string | null } | null
  }
}

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—'
}

/** Schedules: next and last run, counts, pause / resume, trigger now, backfill a range, runs linking to tasks. */
export function Schedules() {
  const { t } = useTranslation()
  const { message } = App.useApp()
  const client = useQueryClient()
  const list = useQuery({
    queryKey: ['schedules'],
    queryFn: async () => (await unwrap(api.GET('/api/v1/schedules', {}))) as { items: ScheduleView[] },
  })
  const act = async (label: string, call: () => Promise<unknown>) => {
    try {
      await call()
      void message.success(label)
      void client.invalidateQueries({ queryKey: ['schedules'] })
      return true
    } catch (err) {
      void message.error(errorMessage(t, err))
      return false
    }
  }
  const path = (id: number) => ({ params: { path: { schedule_id: id } } })

  return (
    <Layout className="app-layout">
      <AppHeader />
      <Layout.Content className="resources-page" data-testid="schedules-page">
        <Typography.Title level={3}>{t('schedules.title')}</Typography.Title>
        <Table<ScheduleView>
          data-testid="schedule-table"
          size="middle"
          rowKey="id"
          loading={list.isPending}
          dataSource={list.data?.items ?? []}
          scroll={{ x: true }}
          locale={{ emptyText: list.error ? errorMessage(t, list.error) : t('schedules.empty') }}
          expandable={{ expandedRowRender: (s) => <Runs scheduleId={s.id} /> }}
          columns={[
            { title: t('resources.name'), render: (_, s) => <Typography.Text strong>{s.name}</Typography.Text> },
            { title: t('newChat.team'), render: (_, s) => String((s.team as { name?: string }).name) },
            {
              title: t('schedules.trigger'),
              render: (_, s) => <Typography.Text code>{String(s.trigger.cron ?? s.trigger.interval ?? '')}</Typography.Text>,
            },
            {
              title: t('resources.state'),
              render: (_, s) => (
                <Tag color={s.status.state === 'Active' ? 'processing' : 'default'} data-testid="schedule-state">
                  {s.status.state ?? (s.enabled ? 'Active' : 'Paused')}
                </Tag>
              ),
            },
            { title: t('schedules.next'), render: (_, s) => when(s.status.nextRunTimes?.[0]) },
            {
              title: t('schedules.last'),
              render: (_, s) =>
                s.status.lastRun ? (
                  <Link to={`/tasks/${s.status.lastRun.taskId}`}>
                    <StateBadge state={s.status.lastRun.state} />
                  </Link>
                ) : (
                  '—'
                ),
            },
            {
              title: t('schedules.runs'),
              render: (_, s) =>
                s.status.runs ? `${s.status.runs.succeeded} ✓ / ${s.status.runs.failed} ✗ / ${s.status.runs.total}` : '—',
            },
            {
              title: '',
              render: (_, s) => (
                <Space wrap>
                  <Button
                    size="small"
                    data-testid="trigger"
                    aria-label={t('schedules.triggerFor', { name: s.name })}
                    onClick={() => void act(t('schedules.triggered'), () => unwrap(api.POST('/api/v1/schedules/{schedule_id}/trigger', { ...path(s.id), body: {} })))}
                  >
                    {t('schedules.triggerNow')}
                  </Button>
                  {/* One button whose action follows the state: the focus stays on it when pause turns to resume. */}
                  <Button
                    size="small"
                    data-testid="pause-resume"
                    aria-label={t(s.enabled ? 'schedules.pauseFor' : 'schedules.resumeFor', { name: s.name })}
                    onClick={() =>
                      void (s.enabled
                        ? act(t('schedules.paused'), () => unwrap(api.POST('/api/v1/schedules/{schedule_id}/pause', path(s.id))))
                        : act(t('schedules.resumed'), () => unwrap(api.POST('/api/v1/schedules/{schedule_id}/resume', path(s.id)))))
                    }
                  >
                    {t(s.enabled ? 'schedules.pause' : 'schedules.resume')}
                  </Button>
                  <Backfill
                    name={s.name}
                    onRun={(start, end) => act(t('schedules.backfilled'), () => unwrap(api.POST('/api/v1/schedules/{schedule_id}/backfill', { ...path(s.id), body: { start, end } })))}
                  />
                  <Button size="small" type="link" href={s.consoleUrl} target="_blank" rel="noreferrer">
                    Temporal
                  </Button>
                </Space>
              ),
            },
          ]}
        />
      </Layout.Content>
    </Layout>
  )
}

/**
 * Backfill a range: a dialog (it takes the focus, into the range's first field; Escape closes it and the focus
 * goes back to its button), the range typed or picked, Enter or the button runs it.
 */
function Backfill({ name, onRun }: { name: string; onRun: (start: string, end: string) => Promise<boolean> }) {
  const { t } = useTranslation()
  const [open, setOpen] = useState(false)
  const [range, setRange] = useState<[Dayjs | null, Dayjs | null] | null>(null)
  const ready = !!range?.[0] && !!range[1]
  const run = async () => {
    if (range?.[0] && range[1] && (await onRun(range[0].toISOString(), range[1].toISOString()))) setOpen(false)
  }
  return (
    <>
      <Button size="small" aria-label={t('schedules.backfillFor', { name })} aria-haspopup="dialog" onClick={() => setOpen(true)}>
        {t('schedules.backfill')}
      </Button>
      <Modal
        open={open}
        title={t('schedules.backfillFor', { name })}
        onCancel={() => setOpen(false)}
        afterClose={() => setRange(null)}
        okText={t('schedules.backfillRun')}
        okButtonProps={{ disabled: !ready, 'data-testid': 'backfill-run' } as ButtonProps}
        onOk={() => void run()}
        destroyOnHidden
      >
        <Form layout="vertical" onFinish={() => void run()}>
          <Form.Item label={t('schedules.backfillRange')} htmlFor="backfill-range" style={{ marginBottom: 0 }}>
            <DatePicker.RangePicker id={{ start: 'backfill-range' }} autoFocus showTime value={range} onChange={(v) => setRange(v)} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  )
}

function Runs({ scheduleId }: { scheduleId: number }) {
  const { t } = useTranslation()
  const runs = useQuery({
    queryKey: ['schedules', scheduleId, 'runs'],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/schedules/{schedule_id}/runs', { params: { path: { schedule_id: scheduleId }, query: { limit: 20 } } }),
      ),
  })
  return (
    <Table
      size="small"
      rowKey="id"
      pagination={false}
      loading={runs.isPending}
      dataSource={runs.data?.items ?? []}
      locale={{ emptyText: t('schedules.noRuns') }}
      columns={[
        { title: t('schedules.scheduledTime'), render: (_, r) => when(r.scheduledTime ?? r.createdAt) },
        { title: t('resources.state'), render: (_, r) => <StateBadge state={r.state} /> },
        { title: '', render: (_, r) => <Link to={`/tasks/${r.id}`}>{r.title}</Link> },
      ]}
    />
  )
}
