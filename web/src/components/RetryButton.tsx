import { RedoOutlined } from '@ant-design/icons'
import { useQuery } from '@tanstack/react-query'
import { App, Button, Select, Space } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'

import { api, listResources, unwrap } from '../client'
import { errorMessage } from '../lib/errors'

/** Retry a FAILED task from the failed step, on the same Model or on another one. */
export function RetryButton({ taskId }: { taskId: number }) {
  const { t } = useTranslation()
  const { message } = App.useApp()
  const [model, setModel] = useState<string | undefined>()
  const [busy, setBusy] = useState(false)
  const models = useQuery({ queryKey: ['resources', 'models'], queryFn: () => listResources('models') })
  const retry = async () => {
    setBusy(true)
    try {
      const [namespace, name] = model ? model.split('/') : []
      await unwrap(
        api.POST('/api/v1/tasks/{task_id}/retry', {
          params: { path: { task_id: taskId } },
          body: name ? { model: { name, namespace } } : {},
        }),
      )
      void message.success(t('actions.retried'))
    } catch (err) {
      void message.error(errorMessage(t, err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <Space.Compact>
      <Select
        allowClear
        size="middle"
        placeholder={t('actions.sameModel')}
        aria-label={t('actions.retryModel')}
        value={model}
        onChange={setModel}
        style={{ width: 160 }}
        options={(models.data ?? []).map((m) => ({
          value: `${m.metadata.namespace}/${m.metadata.name}`,
          label: m.metadata.name,
        }))}
      />
      <Button icon={<RedoOutlined />} loading={busy} data-testid="retry" onClick={() => void retry()}>
        {t('actions.retry')}
      </Button>
    </Space.Compact>
  )
}
