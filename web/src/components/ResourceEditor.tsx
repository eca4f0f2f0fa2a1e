import { Alert, App, Button, Modal, Space, Table, Tag, Typography } from 'antd'
import { useEffect, useRef, useState } from 'react'
import { useTranslation } from 'react-i18next'

import { ApiError, applyYaml, resourceYaml, updateResourceYaml, type ApplyReport, type ResourceDocument } from '../client'
import { errorMessage } from '../lib/errors'
import { YamlEditor } from './YamlEditor'

interface FieldProblem {
  document?: string
  field: string
  message: string
}

/**
 * View or edit one resource as YAML (PUT; a stale resourceVersion is a conflict with a reload), or apply a
 * multi-document YAML (a result per document). Field errors are listed with the field they point at.
 */
export function ResourceEditor({
  doc,
  open,
  onClose,
  onSaved,
}: {
  doc: ResourceDocument | null // null: apply new YAML
  open: boolean
  onClose: () => void
  onSaved: () => void
}) {
  const { t } = useTranslation()
  const { message } = App.useApp()
  const [text, setText] = useState('')
  const [loading, setLoading] = useState(false)
  const [problems, setProblems] = useState<FieldProblem[]>([])
  const [failure, setFailure] = useState<string | null>(null)
  const [conflict, setConflict] = useState(false)
  const [report, setReport] = useState<ApplyReport | null>(null)
  const readOnly = !!doc?.metadata.public
  const body = useRef<HTMLDivElement>(null)
  // Keyboard users start in the editor (the editor is kept between openings, so focus it at each one).
  const focusEditor = () => {
    if (!readOnly) body.current?.querySelector<HTMLElement>('.cm-content')?.focus()
  }

  const load = async () => {
    setProblems([])
    setFailure(null)
    setConflict(false)
    setReport(null)
    if (!doc) {
      setText('')
      return
    }
    setLoading(true)
    try {
      setText(await resourceYaml(doc))
    } catch (err) {
      setFailure(errorMessage(t, err))
    } finally {
      setLoading(false)
    }
  }

  // A fresh editor for each opening: CodeMirror defers a value set while the user is typing and applies it
  // later, so reusing the one just typed in (open, type, save, open the next at keyboard speed) wiped the next
  // document's text a moment after it was entered.
  const [opening, setOpening] = useState(0)
  useEffect(() => {
    if (!open) return
    setOpening((n) => n + 1)
    void load()
  }, [open, doc])

  const save = async () => {
    setLoading(true)
    setProblems([])
    setFailure(null)
    setConflict(false)
    try {
      if (doc) {
        await updateResourceYaml(doc, text)
        void message.success(t('resources.saved'))
        onSaved()
        onClose()
        return
      }
      const result = await applyYaml(text)
      setReport(result)
      const found: FieldProblem[] = result.results.flatMap((r) =>
        (r.errors ?? []).map((e) => ({ document: `${r.kind ?? '?'} ${r.name ?? `#${r.index + 1}`}`, field: e.field, message: e.message })),
      )
      setProblems(found)
      if (result.applied) {
        void message.success(t('resources.applied'))
        onSaved()
      } else if (!found.length) {
        setFailure(result.results.map((r) => r.detail).filter(Boolean).join('; ') || t('errors.unknown'))
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && /was modified/.test(err.message)) setConflict(true)
      else if (err instanceof ApiError && err.body?.errors?.length) setProblems(err.body.errors)
      else setFailure(errorMessage(t, err))
    } finally {
      setLoading(false)
    }
  }

  return (
    <Modal
      open={open}
      onCancel={onClose}
      afterOpenChange={(visible) => {
        if (visible) focusEditor()
      }}
      width={860}
      title={doc ? `${doc.kind} ${doc.metadata.namespace}/${doc.metadata.name}` : t('resources.applyTitle')}
      footer={
        <Space wrap style={{ justifyContent: 'flex-end' }}>
          {readOnly ? null : (
            <Typography.Text type="secondary" style={{ fontSize: 12 }} data-testid="editor-keys">
              {t(doc ? 'resources.keysSave' : 'resources.keysApply')}
            </Typography.Text>
          )}
          <Button onClick={onClose}>{t('resources.close')}</Button>
          {readOnly ? null : (
            <Button type="primary" loading={loading} onClick={() => void save()} data-testid="save-yaml">
              {doc ? t('resources.save') : t('resources.apply')}
            </Button>
          )}
        </Space>
      }
    >
      <Space direction="vertical" style={{ width: '100%' }} ref={body}>
        {readOnly ? <Alert type="info" showIcon message={t('resources.publicReadOnly')} /> : null}
        {!doc ? <Typography.Text type="secondary">{t('resources.applyHint')}</Typography.Text> : null}
        <YamlEditor
          key={opening}
          value={text}
          onChange={readOnly ? undefined : setText}
          readOnly={readOnly}
          autoFocus={!readOnly}
          label={t('resources.yamlLabel')}
          onSubmit={readOnly || loading ? undefined : () => void save()}
        />
        {conflict ? (
          <Alert
            type="warning"
            showIcon
            data-testid="conflict"
            message={t('resources.conflict')}
            action={<Button size="small" onClick={() => void load()}>{t('resources.reload')}</Button>}
          />
        ) : null}
        {failure ? <Alert type="error" showIcon message={failure} data-testid="yaml-failure" /> : null}
        {problems.length ? (
          <Alert
            type="error"
            showIcon
            data-testid="field-errors"
            message={t('resources.fieldErrors')}
            description={
              <ul style={{ margin: 0, paddingInlineStart: 18 }}>
                {problems.map((p, i) => (
                  <li key={i} data-testid="field-error" data-field={p.field}>
                    {p.document ? <Typography.Text type="secondary">{p.document}: </Typography.Text> : null}
                    <Typography.Text code>{p.field}</Typography.Text> {p.message}
                  </li>
                ))}
              </ul>
            }
          />
        ) : null}
        {report ? (
          <Table
            size="small"
            pagination={false}
            rowKey="index"
            data-testid="apply-report"
            dataSource={report.results}
            columns={[
              { title: '#', dataIndex: 'index', render: (i: number) => i + 1, width: 48 },
              { title: t('resources.kind'), dataIndex: 'kind' },
              { title: t('resources.name'), dataIndex: 'name' },
              {
                title: t('resources.result'),
                dataIndex: 'result',
                render: (r: string) => <Tag color={r === 'failed' ? 'error' : r === 'skipped' ? 'default' : 'success'}>{t(`resources.results.${r}`, { defaultValue: r })}</Tag>,
              },
            ]}
          />
        ) : null}
      </Space>
    </Modal>
  )
}
