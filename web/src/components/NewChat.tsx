import { App, Select, Space, Tag, Typography } from 'antd'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { useNavigate } from 'react-router'
import type { Socket } from 'socket.io-client'

import { useTeams } from '../hooks/useTasks'
import { draftKey } from '../lib/auth'
import { errorMessage } from '../lib/errors'
import { call, type Ack } from '../lib/socket'
import { Composer } from './Composer'
import { ClientEvent } from '../client/realtime'

/** Pick a team (own or public) and send the first message: `chat:send {team, message}` makes the task. */
export function NewChat({ socket }: { socket: Socket | null }) {
  const { t } = useTranslation()
  const { message } = App.useApp()
  const navigate = useNavigate()
  const teams = useTeams()
  const [team, setTeam] = useState<string | undefined>()
  const chosen = teams.data?.find((x) => `${x.metadata.namespace}/${x.metadata.name}` === team)

  return (
    <div className="thread-wrap">
      <div className="thread new-chat" data-testid="new-chat-page">
        <Typography.Title level={3}>{t('newChat.title')}</Typography.Title>
        <Typography.Paragraph type="secondary">{t('newChat.hint')}</Typography.Paragraph>
        <Select
          data-testid="team-picker"
          showSearch
          loading={teams.isPending}
          placeholder={t('newChat.pickTeam')}
          aria-label={t('newChat.team')}
          value={team}
          onChange={setTeam}
          style={{ width: '100%', maxWidth: 480 }}
          notFoundContent={t('newChat.noTeams')}
          options={(teams.data ?? []).map((x) => ({
            value: `${x.metadata.namespace}/${x.metadata.name}`,
            label: (
              <Space size={6}>
                <span>{x.metadata.displayName ?? x.metadata.name}</span>
                <Tag>{x.spec.collaborationModel ?? 'pipeline'}</Tag>
                {x.metadata.public ? <Tag color="blue">{t('newChat.public')}</Tag> : null}
              </Space>
            ),
          }))}
        />
        {chosen ? (
          <Typography.Paragraph type="secondary" style={{ marginTop: 12 }} data-testid="team-members">
            {t('newChat.members')}: {(chosen.spec.members ?? []).map((m) => m.botRef.name).join(', ')}
          </Typography.Paragraph>
        ) : null}
      </div>
      <Composer
        draftKey={draftKey('new')}
        placeholder={t('composer.placeholder')}
        disabledReason={chosen ? null : t('composer.pickTeam')}
        onSend={async (text) => {
          if (!socket || !chosen) return false
          try {
            const ack = await call<Ack & { task_id: number }>(socket, ClientEvent.CHAT_SEND, {
              team: { name: chosen.metadata.name, namespace: chosen.metadata.namespace },
              message: text,
            })
            navigate(`/tasks/${ack.task_id}`)
            return true
          } catch (err) {
            void message.error(errorMessage(t, err))
            return false
          }
        }}
      />
    </div>
  )
}
