/**
 * Reason phrases for the statuses the L7R sends. The original clients match
 * on the numeric code only, but they print the phrase in their errors, so it
 * is the standard one.
 */
const REASONS: Readonly<Record<number, string>> = {
  101: 'Switching Protocols',
  102: 'Processing',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  422: 'Unprocessable Entity',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}
