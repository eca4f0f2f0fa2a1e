/**
 * The REST client: `openapi-fetch` over the types generated from the API's OpenAPI spec (`schema.d.ts`,
 * made by `scripts/gen_web_client.sh`; never edit it by hand).
 */
import createClient, { type Middleware } from 'openapi-fetch'

import type { components, paths } from './schema'

export type TaskPublic = components['schemas']['TaskPublic']
export type TaskDetail = components['schemas']['TaskDetailPublic']
export type TaskList = components['schemas']['TaskListPublic']
export type MessagePublic = components['schemas']['MessagePublic']
export type StepPublic = components['schemas']['StepPublic']
export type UserOut = components['schemas']['UserOut']

/** The body of an error answer: `{detail, errors?: [{field, message}]}`. */
export interface ApiErrorBody {
  detail?: unknown
  errors?: { field: string; message: string }[]
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody | null,
  ) {
    super(typeof body?.detail === 'string' ? body.detail : `HTTP ${status}`)
  }
}

let token: string | null = null
let onUnauthorized: (() => void) | null = null

export function setApiToken(value: string | null): void {
  token = value
}

export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler
}

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
  onResponse({ response }) {
    if (response.status === 401 && token) onUnauthorized?.()
    return response
  },
}

export const api = createClient<paths>({ baseUrl: '' })
api.use(auth)

/** The data of an openapi-fetch answer, or an ApiError carrying the status and body. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call
  if (!response.ok || data === undefined) {
    throw new ApiError(response.status, (error as ApiErrorBody | undefined) ?? null)
  }
  return data
}

/** A Team resource as the resource API lists it (the resource routes are untyped documents). */
export interface TeamDocument {
  kind: 'Team'
  metadata: { name: string; namespace: string; displayName?: string; public?: boolean }
  spec: { collaborationModel?: string; members?: { botRef: { name: string }; role?: string }[] }
}

export async function listTeams(namespace = 'default'): Promise<TeamDocument[]> {
  const body = await unwrap(
    api.GET('/api/v1/namespaces/{namespace}/{kinds}', { params: { path: { namespace, kinds: 'teams' } } }),
  )
  return ((body as { items?: TeamDocument[] } | null)?.items ?? []).filter((t) => t.kind === 'Team')
}
