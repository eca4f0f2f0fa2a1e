import { Input } from 'antd'
import { lazy, Suspense } from 'react'

// CodeMirror and its YAML language are a chunk of their own, loaded when an editor first opens.
const CodeMirrorYaml = lazy(() => import('./CodeMirrorYaml'))

export interface YamlEditorProps {
  value: string
  onChange?: (value: string) => void
  readOnly?: boolean
  /** Mod+Enter in the editor. */
  onSubmit?: () => void
  /** Take the focus when the editor is created. */
  autoFocus?: boolean
  /** The editor's accessible name. */
  label?: string
}

export function YamlEditor(props: YamlEditorProps) {
  return (
    <div className="yaml-editor" data-testid="yaml-editor">
      <Suspense
        fallback={
          <Input.TextArea
            value={props.value}
            readOnly
            aria-label={props.label}
            autoSize={{ minRows: 12, maxRows: 24 }}
            style={{ fontFamily: 'monospace' }}
          />
        }
      >
        <CodeMirrorYaml {...props} />
      </Suspense>
    </div>
  )
}
