import { Tag } from 'antd'
import { useTranslation } from 'react-i18next'

const COLORS: Record<string, string> = {
  PENDING: 'default',
  RUNNING: 'processing',
  PENDING_CONFIRMATION: 'warning',
  COMPLETED: 'success',
  FAILED: 'error',
  CANCELLED: 'default',
}

export function StateBadge({ state }: { state: string }) {
  const { t } = useTranslation()
  return (
    <Tag color={COLORS[state] ?? 'default'} data-testid="state-badge" data-state={state} style={{ marginInlineEnd: 0 }}>
      {t(`state.${state}`, { defaultValue: state })}
    </Tag>
  )
}
