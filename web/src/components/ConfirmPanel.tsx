import { Alert, Button, Input, Space } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'

/** PENDING_CONFIRMATION: the stage's output as an editable hand-off, approve, or reject with a reason. */
export function ConfirmPanel({
  output,
  onDecide,
}: {
  output: string
  onDecide: (approve: boolean, text: string) => Promise<void>
}) {
  const { t } = useTranslation()
  const [handoff, setHandoff] = useState(output)
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const decide = async (approve: boolean) => {
    setBusy(true)
    try {
      await onDecide(approve, approve ? handoff : reason)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Alert
      type="warning"
      data-testid="confirm-panel"
      message={t('actions.confirmTitle')}
      description={
        <Space direction="vertical" style={{ width: '100%' }}>
          <label htmlFor="handoff">{t('actions.handoff')}</label>
          <Input.TextArea id="handoff" data-testid="handoff" value={handoff} onChange={(e) => setHandoff(e.target.value)} autoSize={{ minRows: 3, maxRows: 12 }} />
          <Input
            data-testid="reject-reason"
            placeholder={t('actions.rejectReason')}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
          <Space>
            <Button type="primary" loading={busy} data-testid="approve" onClick={() => void decide(true)}>
              {t('actions.approve')}
            </Button>
            <Button danger loading={busy} data-testid="reject" onClick={() => void decide(false)}>
              {t('actions.reject')}
            </Button>
          </Space>
        </Space>
      }
    />
  )
}
