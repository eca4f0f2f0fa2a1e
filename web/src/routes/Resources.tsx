import { DownloadOutlined, PlusOutlined } from '@ant-design/icons'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { App, Button, Layout, Space, Table, Tabs, Tag, Typography } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { useNavigate, useParams } from 'react-router'

import { ApiError, deleteResource, exportYaml, listResources, type ResourceDocument } from '../client'
import { AppHeader } from '../components/AppHeader'
import { ResourceEditor } from '../components/ResourceEditor'
import { errorMessage } from '../lib/errors'

const KINDS = ['Team', 'Bot', 'Ghost', 'Model', 'Shell', 'Workspace', 'Schedule'] as const

/** One table per kind (own and public), YAML view / edit / apply, delete (with force when referenced). */
export function Resources() {
  const { t } = useTranslation()
  const params = useParams()
  const navigate = useNavigate()
  const kind = KINDS.find((k) => k.toLowerCase() + 's' === params.kind) ?? 'Team'
  const [editing, setEditing] = useState<{ doc: ResourceDocument | null } | null>(null)
  const client = useQueryClient()
  const { message } = App.useApp()
  const download = async (k: string) => {
    try {
      const text = await exportYaml(k.toLowerCase() + 's')
      const link = document.createElement('a')
      link.href = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }))
      link.download = `${k.toLowerCase()}s.yaml`
      link.click()
      URL.revokeObjectURL(link.href)
    } catch (err) {
      void message.error(errorMessage(t, err))
    }
  }

  return (
    <Layout className="app-layout">
      <AppHeader />
      <Layout.Content className="resources-page" data-testid="resources-page">
        <Space style={{ justifyContent: 'space-between', width: '100%' }} wrap>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t('resources.title')}
          </Typography.Title>
          <Space>
            <Button icon={<DownloadOutlined />} onClick={() => void download(kind)} data-testid="export-yaml">
              {t('resources.export')}
            </Button>
            <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing({ doc: null })} data-testid="apply-yaml">
              {t('resources.applyYaml')}
            </Button>
          </Space>
        </Space>
        <Tabs
          activeKey={kind}
          onChange={(k) => navigate(`/resources/${k.toLowerCase()}s`)}
          items={KINDS.map((k) => ({ key: k, label: t(`resources.kinds.${k}`) }))}
        />
        <ResourceTable kind={kind} onOpen={(doc) => setEditing({ doc })} />
      </Layout.Content>
      <ResourceEditor
        open={editing !== null}
        doc={editing?.doc ?? null}
        onClose={() => setEditing(null)}
        onSaved={() => void client.invalidateQueries({ queryKey: ['resources'] })}
      />
    </Layout>
  )
}

function ResourceTable({ kind, onOpen }: { kind: string; onOpen: (doc: ResourceDocument) => void }) {
  const { t } = useTranslation()
  const { message, modal } = App.useApp()
  const client = useQueryClient()
  const plural = kind.toLowerCase() + 's'
  const query = useQuery({ queryKey: ['resources', plural], queryFn: () => listResources(plural) })

  const remove = async (doc: ResourceDocument, force = false) => {
    try {
      await deleteResource(doc, force)
      void message.success(t('resources.deleted', { name: doc.metadata.name }))
      void client.invalidateQueries({ queryKey: ['resources'] })
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && !force) {
        const referrers = Array.isArray(err.body?.referrers) ? err.body.referrers : []
        modal.confirm({
          title: t('resources.referenced'),
          content: referrers.length ? (
            <>
              <Typography.Paragraph>{t('resources.referencedBy', { name: doc.metadata.name })}</Typography.Paragraph>
              <ul data-testid="referrers">
                {referrers.map((r) => (
                  <li key={r}>{r}</li>
                ))}
              </ul>
              <Typography.Paragraph type="secondary">{t('resources.forceHint')}</Typography.Paragraph>
            </>
          ) : (
            err.message
          ),
          okText: t('resources.forceDelete'),
          okButtonProps: { danger: true },
          onOk: () => remove(doc, true),
        })
      } else {
        void message.error(errorMessage(t, err))
      }
    }
  }

  return (
    <Table<ResourceDocument>
      data-testid="resource-table"
      size="middle"
      loading={query.isPending}
      rowKey={(d) => `${d.metadata.public ? 'public' : 'own'}/${d.metadata.namespace}/${d.metadata.name}`}
      dataSource={query.data ?? []}
      scroll={{ x: true }}
      locale={{ emptyText: query.error ? errorMessage(t, query.error) : t('resources.empty') }}
      columns={[
        {
          title: t('resources.name'),
          render: (_, d) => (
            <Button type="link" style={{ padding: 0 }} onClick={() => onOpen(d)} data-testid="resource-name">
              {d.metadata.displayName ?? d.metadata.name}
            </Button>
          ),
        },
        { title: t('resources.namespace'), render: (_, d) => d.metadata.namespace },
        {
          title: t('resources.owner'),
          render: (_, d) => (d.metadata.public ? <Tag color="blue">{t('newChat.public')}</Tag> : <Tag>{t('resources.own')}</Tag>),
        },
        {
          title: t('resources.state'),
          render: (_, d) => {
            const state = (d.status as { state?: string } | undefined)?.state
            return state ? <Tag>{state}</Tag> : null
          },
        },
        { title: t('resources.version'), render: (_, d) => d.metadata.resourceVersion },
        {
          title: '',
          render: (_, d) => (
            <Space>
              <Button size="small" onClick={() => onOpen(d)}>
                {d.metadata.public ? t('resources.view') : t('resources.edit')}
              </Button>
              {d.metadata.public ? null : (
                <Button
                  size="small"
                  danger
                  onClick={() =>
                    modal.confirm({
                      title: t('resources.confirmDelete', { name: d.metadata.name }),
                      okButtonProps: { danger: true },
                      onOk: () => remove(d),
                    })
                  }
                >
                  {t('resources.delete')}
                </Button>
              )}
            </Space>
          ),
        },
      ]}
    />
  )
}
