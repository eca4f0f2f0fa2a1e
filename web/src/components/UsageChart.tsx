import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import { useTranslation } from 'react-i18next'

export type UsageBar = { label: string; inputTokens: number; outputTokens: number; cost: number }

/** Tokens per team (or per user) as stacked horizontal bars, cost in the tooltip.
 *
 * Its own module, loaded with `lazy()` from the Usage page only: the chart library stays out of the chat
 * route's initial JavaScript (tests/web/test_bundle.py keeps that under budget).
 */
export default function UsageChart({ bars, testId }: { bars: UsageBar[]; testId: string }) {
  const { t } = useTranslation()
  // One row per bar: tall enough for its label, short enough that a dozen teams fit on a phone screen.
  const height = Math.max(120, 48 + 36 * bars.length)
  return (
    <div data-testid={testId} data-bars={bars.length} role="img" aria-label={t('usage.chart')} style={{ width: '100%', height }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={bars} layout="vertical" margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" horizontal={false} />
          <XAxis type="number" allowDecimals={false} />
          <YAxis type="category" dataKey="label" width={140} tick={{ fontSize: 12 }} />
          <Tooltip
            formatter={(value, name) => [String(value), String(name)]}
            labelFormatter={(label, payload) => {
              const cost = payload?.[0]?.payload ? (payload[0].payload as UsageBar).cost : 0
              return `${String(label)} · $${cost.toFixed(4)}`
            }}
          />
          <Legend />
          <Bar dataKey="inputTokens" name={t('usage.inputTokens')} stackId="tokens" fill="#8fa6ef" isAnimationActive={false} />
          <Bar dataKey="outputTokens" name={t('usage.outputTokens')} stackId="tokens" fill="#3a5bd9" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  )
}
