import { Alert, Button, Input, Space } from 'antd'
import { useEffect, useRef, useState } from 'react'

import type { TextAreaRef } from 'antd/es/input/TextArea'
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
  const handoffRef = useRef<TextAreaRef>(null)
  useEffect(() => {
    // The message box is disabled while a stage waits, which drops a keyboard user's focus to the page: the
    // decision takes it instead (never taken from anywhere else the user is).
    const active = document.activeElement
    if (!active || active === document.body || active.closest('[data-testid=composer]')) {
      handoffRef.current?.focus({ cursor: 'end' })
    }
  }, [])
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
          <Input.TextArea ref={handoffRef} id="handoff" data-testid="handoff" value={handoff} onChange={(e) => setHandoff(e.target.value)} autoSize={{ minRows: 3, maxRows: 12 }} />
          <Input
            data-testid="reject-reason"
            placeholder={t('actions.rejectReason')}
            aria-label={t('actions.rejectReason')}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            // Enter in a reason given rejects with it (an empty field never rejects by accident).
            onPressEnter={() => {
              if (reason.trim() && !busy) void decide(false)
            }}
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
