import { memo } from 'react'
import ReactMarkdown from 'react-markdown'
import remarkGfm from 'remark-gfm'

import { splitBlocks } from '../lib/markdownBlocks'

// One block's markdown, parsed again only when its text changes: while an answer streams that is the last one.
const Block = memo(function Block({ text }: { text: string }) {
  return <ReactMarkdown remarkPlugins={[remarkGfm]}>{text}</ReactMarkdown>
})

export default function MarkdownRenderer({ text }: { text: string }) {
  return (
    <>
      {splitBlocks(text).map((block, index) => (
        <Block key={index} text={block} />
      ))}
    </>
  )
}
