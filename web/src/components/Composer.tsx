import { Sender } from '@ant-design/x'
import { Typography } from 'antd'
import { useState } from 'react'

/**
 * The message box: Enter sends, Shift+Enter is a new line. While `disabledReason` is set it is disabled and
 * says why; `onStop` (while running) shows the stop button.
 */
export function Composer({
  placeholder,
  disabledReason,
  onSend,
  onStop,
  running,
}: {
  placeholder: string
  disabledReason?: string | null
  onSend: (text: string) => Promise<boolean>
  onStop?: () => void
  running?: boolean
}) {
  const [value, setValue] = useState('')
  const [sending, setSending] = useState(false)
  return (
    <div className="composer" data-testid="composer">
      {disabledReason ? (
        <Typography.Text type="secondary" className="composer-reason" data-testid="composer-reason">
          {disabledReason}
        </Typography.Text>
      ) : null}
      <Sender
        value={value}
        onChange={setValue}
        placeholder={placeholder}
        submitType="enter"
        disabled={!!disabledReason && !running}
        readOnly={!!disabledReason}
        loading={running || sending}
        onCancel={onStop}
        onSubmit={async (text) => {
          if (!text.trim() || disabledReason) return
          setSending(true)
          try {
            if (await onSend(text)) setValue('')
          } finally {
            setSending(false)
          }
        }}
      />
    </div>
  )
}
