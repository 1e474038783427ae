import { HttpErrorResponse } from '@angular/common/http';

/**
 * Turns any failed request into one sentence a person can act on.
 * The server answers every error as `{"msg": "..."}`; a proxy in front of it (nginx's own 413,
 * a 502 while a release switches) may send HTML instead, so each status has a fallback.
 */
export function errorMessage(error: unknown): string {
  if (!(error instanceof HttpErrorResponse)) {
    return error instanceof Error ? error.message : 'Something went wrong.';
  }
  const body: unknown = error.error;
  if (body && typeof body === 'object' && 'msg' in body && typeof body.msg === 'string' && body.msg) {
    return body.msg;
  }
  return fallbackMessages[error.status] ?? `The server answered ${error.status || 'nothing'}; please try again.`;
}

const fallbackMessages: Record<number, string> = {
  0: 'Cannot reach the server; check your connection and try again.',
  401: 'Please sign in first.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  413: 'That file is too large for the server.',
  429: 'Too many requests; wait a moment and try again.',
  502: 'The server is restarting; try again in a moment.',
  503: 'The server is unavailable; try again in a moment.',
};
