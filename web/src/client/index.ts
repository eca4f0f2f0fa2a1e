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

/** The body of an error answer: `{detail, errors?: [{field, message}], referrers?}`. */
export interface ApiErrorBody {
  detail?: unknown
  errors?: { field: string; message: string }[]
  /** A refused delete (409): the resources that refer to the one being deleted. */
  referrers?: string[]
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

/** A resource document (Kubernetes style) as the resource routes return it. */
export interface ResourceDocument {
  apiVersion?: string
  kind: string
  metadata: {
    name: string
    namespace: string
    displayName?: string
    resourceVersion?: string
    updatedTimestamp?: string | null
    public?: boolean
  }
  spec: Record<string, unknown>
  status?: Record<string, unknown>
}

export type ApplyReport = components['schemas']['ApplyReport']

/** Plain fetch with the session's token, for the YAML bodies openapi-fetch does not model. */
export async function fetchText(path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const headers = new Headers(init.headers)
  if (token) headers.set('Authorization', `Bearer ${token}`)
  const response = await fetch(path, { ...init, headers })
  if (response.status === 401 && token) onUnauthorized?.()
  return { status: response.status, text: await response.text() }
}

function parseBody(text: string): ApiErrorBody | null {
  try {
    return JSON.parse(text) as ApiErrorBody
  } catch {
    return null
  }
}

const base = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}`

export async function listResources(plural: string, namespace = 'default'): Promise<ResourceDocument[]> {
  const { status, text } = await fetchText(`${base(namespace)}/${plural}?limit=1000`)
  if (status !== 200) throw new ApiError(status, parseBody(text))
  return (JSON.parse(text) as { items: ResourceDocument[] }).items
}

export async function resourceYaml(doc: ResourceDocument): Promise<string> {
  const scope = doc.metadata.public ? '&scope=public' : ''
  const { status, text } = await fetchText(
    `${base(doc.metadata.namespace)}/${doc.kind.toLowerCase()}s/${encodeURIComponent(doc.metadata.name)}?format=yaml${scope}`,
  )
  if (status !== 200) throw new ApiError(status, parseBody(text))
  return text
}

export async function updateResourceYaml(doc: ResourceDocument, yaml: string): Promise<void> {
  const { status, text } = await fetchText(
    `${base(doc.metadata.namespace)}/${doc.kind.toLowerCase()}s/${encodeURIComponent(doc.metadata.name)}`,
    { method: 'PUT', headers: { 'Content-Type': 'application/yaml' }, body: yaml },
  )
  if (status !== 200) throw new ApiError(status, parseBody(text))
}

/** Multi-document YAML, all or nothing: the report has a result per document (422 when nothing applied). */
export async function applyYaml(yaml: string, namespace = 'default'): Promise<ApplyReport> {
  const { status, text } = await fetchText(`${base(namespace)}/apply`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/yaml' },
    body: yaml,
  })
  const body = parseBody(text) as (ApplyReport & ApiErrorBody) | null
  if (body && Array.isArray(body.results)) return body
  throw new ApiError(status, body)
}

export async function deleteResource(doc: ResourceDocument, force = false): Promise<void> {
  const { status, text } = await fetchText(
    `${base(doc.metadata.namespace)}/${doc.kind.toLowerCase()}s/${encodeURIComponent(doc.metadata.name)}${force ? '?force=true' : ''}`,
    { method: 'DELETE' },
  )
  if (status !== 200) throw new ApiError(status, parseBody(text))
}

/** Every resource of a kind as multi-document YAML (what `wegent get KIND -o yaml` prints). */
export async function exportYaml(plural: string, namespace = 'default'): Promise<string> {
  const { status, text } = await fetchText(`${base(namespace)}/${plural}?format=yaml&limit=1000`)
  if (status !== 200) throw new ApiError(status, parseBody(text))
  return text
}
