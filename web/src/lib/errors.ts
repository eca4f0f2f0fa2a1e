/** Turn any failure into a sentence for people: never raw JSON. */
import type { TFunction } from 'i18next'

import { ApiError } from '../client'

export function errorMessage(t: TFunction, error: unknown): string {
  if (error instanceof ApiError) {
    const detail = describe(error)
    if (error.status === 404) return t('errors.notFound')
    if (error.status === 403) return t('errors.forbidden')
    if (error.status === 409) return t('errors.conflict', { detail })
    if (error.status === 422 || error.status === 400) return t('errors.invalid', { detail })
    return t('errors.unknown')
  }
  if (error instanceof TypeError) return t('errors.network')
  if (error && typeof error === 'object' && 'error' in error && typeof error.error === 'string') {
    return error.error // a socket ack: {ok: false, error}
  }
  return t('errors.unknown')
}

function describe(error: ApiError): string {
  const first = error.body?.errors?.[0]
  if (first) return `${first.field}: ${first.message}`
  const detail = error.body?.detail
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail) && detail[0] && typeof detail[0] === 'object' && 'msg' in detail[0]) {
    return String((detail[0] as { msg: unknown }).msg)
  }
  return error.message
}
