// Answer bodies in the shapes Google's front ends use: the JSON error object
// of googleapis.com, the OAuth2 error object of the token endpoint, and the
// bare HTML page a Google front end serves for a 502.

const STATUS_NAMES = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    409: 'ALREADY_EXISTS',
    411: 'LENGTH_REQUIRED',
    413: 'OUT_OF_RANGE',
    429: 'RESOURCE_EXHAUSTED',
    499: 'CANCELLED',
    500: 'INTERNAL',
    501: 'NOT_IMPLEMENTED',
    502: 'UNAVAILABLE',
    503: 'UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED',
};

// BigQuery's reason for each status when a fault names none.
const DEFAULT_REASONS = {
    400: 'invalid',
    401: 'authError',
    403: 'rateLimitExceeded',
    404: 'notFound',
    409: 'duplicate',
    429: 'rateLimitExceeded',
    500: 'backendError',
    502: 'backendError',
    503: 'backendError',
    504: 'backendError',
};

const REASON_MESSAGES = {
    rateLimitExceeded: 'Exceeded rate limits: too many api requests per user'
        + ' per method for this user_method.',
    quotaExceeded: 'Quota exceeded: Your table exceeded quota for streaming'
        + ' insert rows.',
    backendError: 'Error encountered during execution. Retrying may solve the'
        + ' problem.',
    internalError: 'An internal error occurred and the request could not be'
        + ' completed.',
    timeout: 'The request timed out.',
};

const JSON_TYPE = 'application/json; charset=UTF-8';

export function statusName(code) {
    if (STATUS_NAMES[code]) {
        return STATUS_NAMES[code];
    }
    return code >= 500 ? 'UNKNOWN' : 'FAILED_PRECONDITION';
}

export function defaultReason(code) {
    return DEFAULT_REASONS[code] ?? (code >= 500 ? 'backendError' : 'invalid');
}

export function reasonMessage(reason, code) {
    return REASON_MESSAGES[reason] ?? `The service answered HTTP ${code}.`;
}

export function jsonReply(status, obj, headers = {}) {
    return {
        status,
        headers: { 'Content-Type': JSON_TYPE, ...headers },
        body: JSON.stringify(obj),
    };
}

// One ErrorProto inside the standard error envelope; extra may add
// location/locationType.
export function googleError(code, reason, message, extra = {}, headers = {}) {
    return jsonReply(code, {
        error: {
            code,
            message,
            errors: [{ message, domain: 'global', reason, ...extra }],
            status: statusName(code),
        },
    }, headers);
}

export function oauthError(code, error, description, headers = {}) {
    return jsonReply(code, { error, error_description: description },
                     { 'Cache-Control': 'no-store', ...headers });
}

export function htmlError(code, text) {
    return {
        status: code,
        headers: { 'Content-Type': 'text/html; charset=UTF-8' },
        body: '<!DOCTYPE html>\n<html lang=en><meta charset=utf-8>'
            + `<title>Error ${code}</title>`
            + `<p><b>${code}.</b> <ins>That\u2019s an error.</ins>`
            + `<p>${text} <ins>That\u2019s all we know.</ins>\n`,
    };
}
