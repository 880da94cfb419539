import { isSessionError } from '@session-cluster/core';

/** What the error page says about a failed request, and how loudly the log does. */
export interface RequestFailure {
  readonly status: number;
  readonly title: string;
  /** Plain text for the page. */
  readonly message: string;
  /** `SessionError` code, body-parser type, or `INTERNAL`. */
  readonly code: string;
  /** 4xx: the client's doing (`warn`); 5xx: ours (`error`, with the cause). */
  readonly level: 'warn' | 'error';
}

/** The demo's form limit (`express.urlencoded({ limit })`). */
export const FORM_LIMIT = '4kb';

/**
 * body-parser's refusals by their `type` (http-errors with `expose: true`):
 * what the visitor did, in words.
 */
const BODY_ERRORS: Readonly<Record<string, { title: string; message: string }>> = {
  'entity.too.large': {
    title: 'Form too large',
    message: `That form was larger than the demo accepts (${FORM_LIMIT}). Send less text.`,
  },
  'parameters.too.many': {
    title: 'Form too large',
    message: 'That form had more fields than the demo accepts.',
  },
  'charset.unsupported': {
    title: 'Unsupported form encoding',
    message: 'That form was sent in a character set the demo does not read (send UTF-8).',
  },
  'encoding.unsupported': {
    title: 'Unsupported form encoding',
    message: 'That form was compressed with an encoding the demo does not read.',
  },
};

/** An http-errors error a body parser raised for the client (status 4xx, `expose`). */
function clientHttpError(error: unknown): { status: number; type: string } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, expose, type } = error as { status?: unknown; expose?: unknown; type?: unknown };
  if (typeof status !== 'number' || status < 400 || status > 499 || expose !== true) {
    return undefined;
  }
  return { status, type: typeof type === 'string' ? type : 'request.invalid' };
}

/**
 * Map what reached Express's error handler to a page: body-parser's
 * refusals keep their 4xx (413 too large, 415 charset or content-encoding,
 * 400 unreadable), a client-category `SessionError` is a 400, storage and
 * concurrency failures a 503, anything else a 500.
 */
export function describeFailure(error: unknown): RequestFailure {
  const http = clientHttpError(error);
  if (http !== undefined) {
    const known = BODY_ERRORS[http.type] ?? {
      title: 'Bad request',
      message: 'The demo could not read that request.',
    };
    return { status: http.status, code: http.type, level: 'warn', ...known };
  }
  if (isSessionError(error)) {
    if (error.category === 'client') {
      return {
        status: 400,
        code: error.code,
        level: 'warn',
        title: 'Bad request',
        message: 'The session layer refused that request.',
      };
    }
    const unavailable = error.category === 'storage' || error.category === 'concurrency';
    return {
      status: unavailable ? 503 : 500,
      code: error.code,
      level: 'error',
      title: 'Something went wrong',
      message: unavailable
        ? 'Sessions are unavailable for a moment. Try again.'
        : 'The request failed. Try again.',
    };
  }
  return {
    status: 500,
    code: 'INTERNAL',
    level: 'error',
    title: 'Something went wrong',
    message: 'The request failed. Try again.',
  };
}
