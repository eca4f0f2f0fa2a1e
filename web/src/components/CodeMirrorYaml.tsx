import { yaml } from '@codemirror/lang-yaml'
import CodeMirror, { EditorView, keymap, Prec } from '@uiw/react-codemirror'
import { useMemo, useRef } from 'react'

import type { YamlEditorProps } from './YamlEditor'

export default function CodeMirrorYaml({ value, onChange, readOnly, onSubmit, autoFocus, label }: YamlEditorProps) {
  const submit = useRef(onSubmit)
  submit.current = onSubmit
  const extensions = useMemo(
    () => [
      yaml(),
      EditorView.contentAttributes.of({ 'aria-label': label ?? 'YAML' }),
      // Mod+Enter saves (or applies) from inside the editor.
      Prec.highest(
        keymap.of([
          {
            key: 'Mod-Enter',
            run: () => {
              if (!submit.current) return false
              submit.current()
              return true
            },
          },
        ]),
      ),
    ],
    [label],
  )
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      readOnly={readOnly}
      editable={!readOnly}
      extensions={extensions}
      minHeight="240px"
      maxHeight="60vh"
      // Tab moves the focus on (no keyboard trap); Enter keeps the indentation, Mod+] / Mod+[ change it.
      indentWithTab={false}
      onCreateEditor={(view) => {
        if (autoFocus) view.focus()
      }}
      basicSetup={{ foldGutter: false }}
    />
  )
}
