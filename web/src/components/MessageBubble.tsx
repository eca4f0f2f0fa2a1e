import { CopyOutlined } from '@ant-design/icons'
import { Bubble } from '@ant-design/x'
import { Alert, App, Button, Space, Tag, Typography } from 'antd'
import { lazy, memo, Suspense } from 'react'
import { useTranslation } from 'react-i18next'

import type { StreamMessage } from '../lib/streamStore'
import { Markdown } from './Markdown'

const ToolEvents = lazy(() => import('./ToolEvents'))

/** One message: the user's (right), a bot's answer for one step (left, with its name), or a workflow note. */
export const MessageBubble = memo(function MessageBubble({
  message,
  content,
  status,
  tools,
  label,
}: {
  message: StreamMessage
  content: string
  status: StreamMessage['status']
  tools: StreamMessage['tools']
  /** The bot's role in the team, or its pipeline stage. */
  label?: string | null
}) {
  const { t } = useTranslation()
  const { message: toast } = App.useApp()
  if (message.role === 'user') {
    return (
      <div data-testid="message" data-role="user" data-message-id={message.id}>
        <Bubble placement="end" content={content} header={<Typography.Text type="secondary">{t('thread.you')}</Typography.Text>} />
      </div>
    )
  }
  if (message.role === 'system') {
    return (
      <div className="note" data-testid="message" data-role="system" data-message-id={message.id}>
        <Tag color="geekblue">{t(`thread.notes.${String(message.meta?.kind ?? '')}`, { defaultValue: t('thread.note') })}</Tag>
        {message.bot ? <Typography.Text strong>{message.bot} </Typography.Text> : null}
        <Typography.Text type="secondary">{content}</Typography.Text>
      </div>
    )
  }
  const header = (
    <Space size={6} wrap>
      <Typography.Text strong data-testid="bot-name">
        {message.bot ?? t('thread.assistant')}
      </Typography.Text>
      {label ? <Tag data-testid="bot-label">{label}</Tag> : null}
      <Typography.Text type="secondary" style={{ fontSize: 12 }}>
        {t('thread.step', { step: message.step + 1 })}
      </Typography.Text>
      {status === 'streaming' ? <Tag color="processing">{t('thread.streaming')}</Tag> : null}
      {status === 'cancelled' ? <Tag>{t('thread.cancelledMsg')}</Tag> : null}
    </Space>
  )
  const footer =
    status === 'done' ? (
      <Space size={8}>
        {message.usage ? (
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {t('thread.tokens', { input: message.usage.inputTokens, output: message.usage.outputTokens })}
            {message.usage.cost ? ` · $${message.usage.cost.toFixed(4)}` : ''}
          </Typography.Text>
        ) : null}
        <Button
          size="small"
          type="text"
          icon={<CopyOutlined />}
          aria-label={t('thread.copy')}
          onClick={() => void navigator.clipboard?.writeText(content).then(() => toast.success(t('thread.copied')))}
        />
      </Space>
    ) : null
  return (
    <div data-testid="message" data-role="assistant" data-message-id={message.id} data-status={status}>
      <Bubble
        placement="start"
        variant="outlined"
        header={header}
        footer={footer}
        content={content}
        contentRender={(text) => (
          <>
            {tools.length ? (
              <Suspense fallback={null}>
                <ToolEvents tools={tools} />
              </Suspense>
            ) : null}
            {text ? (
              <div data-testid="answer">
                <Markdown text={text} />
              </div>
            ) : null}
            {status === 'error' ? (
              <Alert type="error" showIcon message={t('thread.errorMsg', { error: message.error ?? '' })} />
            ) : null}
          </>
        )}
        loading={status === 'streaming' && !content}
      />
    </div>
  )
})

