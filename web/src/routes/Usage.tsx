import { useQuery } from '@tanstack/react-query'
import { Alert, Card, Layout, Segmented, Skeleton, Space, Statistic, Table, Typography } from 'antd'
import { lazy, Suspense } from 'react'
import { useTranslation } from 'react-i18next'
import { useSearchParams } from 'react-router'

import { api, unwrap } from '../client'
import type { components } from '../client/schema'
import { AppHeader } from '../components/AppHeader'
import { errorMessage } from '../lib/errors'

type UsageReport = components['schemas']['UsageReportPublic']
type TeamUsage = components['schemas']['TeamUsagePublic']

// The chart library loads only when a chart is shown (its own chunk), never with the chat route.
const UsageChart = lazy(() => import('../components/UsageChart'))

function Chart({ bars, testId }: { bars: { label: string; inputTokens: number; outputTokens: number; cost: number }[]; testId: string }) {
  if (!bars.length) return null
  return (
    <Suspense fallback={<Skeleton active paragraph={{ rows: 2 }} />}>
      <UsageChart bars={bars} testId={testId} />
    </Suspense>
  )
}

// The periods to count (`?period=` in the address, so a period can be linked to): how far back, in hours.
const PERIODS = { all: null, '30d': 30 * 24, '7d': 7 * 24, '1d': 24 } as const
type Period = keyof typeof PERIODS

function periodOf(value: string | null): Period {
  return value !== null && value in PERIODS ? (value as Period) : 'all'
}

/** The `since` of a period, as of now (each fetch counts back from its own time). */
function since(period: Period): { query: { since?: string } } {
  const hours = PERIODS[period]
  return { query: hours === null ? {} : { since: new Date(Date.now() - hours * 3600_000).toISOString() } }
}

/** Tokens and cost per team (a chart and a table), and for admins every user's totals (the same). */
export function Usage() {
  const { t } = useTranslation()
  const [params, setParams] = useSearchParams()
  const period = periodOf(params.get('period'))
  const me = useQuery({ queryKey: ['me'], queryFn: () => unwrap(api.GET('/api/v1/users/me')) })
  const mine = useQuery({
    queryKey: ['usage', 'me', period],
    queryFn: () => unwrap(api.GET('/api/v1/users/me/usage', { params: since(period) })),
    placeholderData: (previous) => previous, // the last figures stay while the next period's load
  })
  const admin = me.data?.role === 'admin'
  const all = useQuery({
    queryKey: ['usage', 'all', period],
    enabled: admin,
    queryFn: () => unwrap(api.GET('/api/v1/admin/usage', { params: since(period) })),
    placeholderData: (previous) => previous,
  })
  const report = mine.data

  return (
    <Layout className="app-layout">
      <AppHeader />
      <Layout.Content className="resources-page" data-testid="usage-page">
        <Space style={{ justifyContent: 'space-between', width: '100%', marginBottom: 16 }} wrap>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t('usage.title')}
          </Typography.Title>
          {/* A radio group: Tab reaches the chosen period, the arrow keys choose another. */}
          <Segmented<Period>
            data-testid="usage-period"
            aria-label={t('usage.period')}
            tabIndex={-1}
            value={period}
            onChange={(value) => setParams(value === 'all' ? {} : { period: value }, { replace: true })}
            options={(Object.keys(PERIODS) as Period[]).map((p) => ({ value: p, label: t(`usage.periods.${p}`) }))}
          />
        </Space>
        {mine.error ? <Alert type="error" showIcon message={errorMessage(t, mine.error)} /> : null}
        {report ? (
          <Space
            direction="vertical"
            size={16}
            style={{ width: '100%' }}
            data-testid="usage-report"
            data-period={mine.isPlaceholderData ? undefined : period}
            aria-busy={mine.isFetching}
          >
            <Space wrap size={16}>
              <Card size="small">
                <Statistic title={t('usage.tasks')} value={report.tasks} />
              </Card>
              <Card size="small">
                <Statistic title={t('usage.inputTokens')} value={report.inputTokens} />
              </Card>
              <Card size="small">
                <Statistic title={t('usage.outputTokens')} value={report.outputTokens} />
              </Card>
              <Card size="small">
                <Statistic title={t('usage.cost')} value={report.cost} precision={4} prefix="$" />
              </Card>
            </Space>
            <Chart
              testId="usage-chart"
              bars={report.byTeam.map((x) => ({ label: x.team.name, inputTokens: x.inputTokens, outputTokens: x.outputTokens, cost: x.cost }))}
            />
            <Table<TeamUsage>
              data-testid="usage-by-team"
              size="small"
              pagination={false}
              rowKey={(x) => `${x.team.namespace}/${x.team.name}`}
              dataSource={report.byTeam}
              locale={{ emptyText: t('usage.empty') }}
              scroll={{ x: true }}
              columns={[
                { title: t('newChat.team'), render: (_, x) => x.team.name },
                { title: t('usage.tasks'), dataIndex: 'tasks' },
                {
                  title: t('usage.tokens'),
                  render: (_, x) => x.inputTokens + x.outputTokens,
                },
                { title: t('usage.cost'), render: (_, x) => `$${x.cost.toFixed(4)}` },
              ]}
            />
          </Space>
        ) : null}
        {admin && all.data ? (
          <>
            <Typography.Title level={4} style={{ marginTop: 24 }}>
              {t('usage.allUsers')}
            </Typography.Title>
            <Chart
              testId="usage-users-chart"
              bars={all.data.map((x) => ({ label: x.user, inputTokens: x.inputTokens, outputTokens: x.outputTokens, cost: x.cost }))}
            />
            <Table<UsageReport>
              data-testid="usage-all-users"
              size="small"
              rowKey="user"
              pagination={false}
              dataSource={all.data}
              scroll={{ x: true }}
              columns={[
                { title: t('usage.user'), dataIndex: 'user' },
                { title: t('usage.tasks'), dataIndex: 'tasks' },
                { title: t('usage.inputTokens'), dataIndex: 'inputTokens' },
                { title: t('usage.outputTokens'), dataIndex: 'outputTokens' },
                { title: t('usage.cost'), render: (_, x) => `$${x.cost.toFixed(4)}` },
              ]}
            />
          </>
        ) : null}
      </Layout.Content>
    </Layout>
  )
}
