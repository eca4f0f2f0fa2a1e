import { Sender } from '@ant-design/x'
import { Typography } from 'antd'
import { useState } from 'react'

function readDraft(key: string | null): string {
  return (key && sessionStorage.getItem(key)) || ''
}

function keepDraft(key: string | null, text: string): void {
  if (!key) return
  if (text) sessionStorage.setItem(key, text)
  else sessionStorage.removeItem(key)
}

/**
 * The message box: Enter sends, Shift+Enter is a new line. While `disabledReason` is set it is disabled and
 * says why; `onStop` (while running) shows the stop button. With `draftKey` the unsent text is kept (see
 * lib/auth.ts draftKey): a session that expires mid-sentence, or a reload, loses nothing.
 */
export function Composer({
  placeholder,
  disabledReason,
  onSend,
  onStop,
  running,
  draftKey,
}: {
  placeholder: string
  disabledReason?: string | null
  onSend: (text: string) => Promise<boolean>
  onStop?: () => void
  running?: boolean
  draftKey?: string | null
}) {
  const [value, setValue] = useState(() => readDraft(draftKey ?? null))
  const change = (text: string) => {
    setValue(text)
    keepDraft(draftKey ?? null, text)
  }
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
        onChange={change}
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
            if (await onSend(text)) change('')
          } finally {
            setSending(false)
          }
        }}
      />
    </div>
  )
}
