import { yaml } from '@codemirror/lang-yaml'
import CodeMirror from '@uiw/react-codemirror'

import type { YamlEditorProps } from './YamlEditor'

const extensions = [yaml()]

export default function CodeMirrorYaml({ value, onChange, readOnly }: YamlEditorProps) {
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      readOnly={readOnly}
      editable={!readOnly}
      extensions={extensions}
      minHeight="240px"
      maxHeight="60vh"
      basicSetup={{ foldGutter: false }}
    />
  )
}
