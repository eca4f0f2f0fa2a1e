import { lazy, memo, Suspense } from 'react'

// react-markdown and GFM load in their own chunk: until they arrive (a moment, once) the text shows as is.
const Rendered = lazy(() => import('./MarkdownRenderer'))

/** An answer as GitHub-flavoured markdown (raw HTML is not rendered). */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <Suspense fallback={<div style={{ whiteSpace: 'pre-wrap' }}>{text}</div>}>
        <Rendered text={text} />
      </Suspense>
    </div>
  )
})
