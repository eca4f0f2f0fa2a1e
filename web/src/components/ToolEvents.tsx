import { Collapse, Space, Tag, Typography } from 'antd'
import { useTranslation } from 'react-i18next'

import type { StreamMessage } from '../lib/streamStore'

/** Tool calls and their results, collapsed: the name shows, the arguments and output open on demand. */
export default function ToolEvents({ tools }: { tools: StreamMessage['tools'] }) {
  const { t } = useTranslation()
  // A result names no tool: it answers the call with the same id, whose name it shows.
  const names = new Map<unknown, string>()
  for (const tool of tools) if (typeof tool.data.name === 'string' && tool.data.id != null) names.set(tool.data.id, tool.data.name)
  return (
    <Collapse
      size="small"
      style={{ marginBottom: 8 }}
      data-testid="tool-events"
      items={tools.map((tool) => {
        const name = typeof tool.data.name === 'string' ? tool.data.name : (names.get(tool.data.id) ?? '')
        return {
          key: tool.offset,
          label: (
            <Space size={6}>
              <Tag color={tool.kind === 'tool_result' ? 'green' : 'purple'}>
                {tool.kind === 'tool_result' ? t('thread.toolResult') : t('thread.toolCall')}
              </Tag>
              {name ? <Typography.Text code>{name}</Typography.Text> : null}
            </Space>
          ),
          children: <pre className="tool-data">{JSON.stringify(tool.data, null, 2)}</pre>,
        }
      })}
    />
  )
}
