import { Input } from 'antd'
import { lazy, Suspense } from 'react'

// CodeMirror and its YAML language are a chunk of their own, loaded when an editor first opens.
const CodeMirrorYaml = lazy(() => import('./CodeMirrorYaml'))

export interface YamlEditorProps {
  value: string
  onChange?: (value: string) => void
  readOnly?: boolean
}

export function YamlEditor(props: YamlEditorProps) {
  return (
    <div className="yaml-editor" data-testid="yaml-editor">
      <Suspense
        fallback={
          <Input.TextArea value={props.value} readOnly autoSize={{ minRows: 12, maxRows: 24 }} style={{ fontFamily: 'monospace' }} />
        }
      >
        <CodeMirrorYaml {...props} />
      </Suspense>
    </div>
  )
}
