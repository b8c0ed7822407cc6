/** Responses mosnd makes itself: errors, direct_response routes and redirects. */
import { STATUS_CODES } from 'node:http';

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

/** A complete response; `close` adds Connection: close. */
export function localReply(
  status: number,
  body: string,
  close: boolean,
  extraHeaders: string[] = [],
  headOnly = false,
): string {
  let s = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  let hasType = false;
  for (let i = 0; i < extraHeaders.length; i += 2) {
    const name = extraHeaders[i];
    if (name.length === 12 && name.toLowerCase() === 'content-type') hasType = true;
    else if (name.length === 14 && name.toLowerCase() === 'content-length') continue;
    s += `${name}: ${extraHeaders[i + 1]}\r\n`;
  }
  const len = Buffer.byteLength(body, 'utf8');
  if (status !== 204 && status !== 304 && (status >= 200 || status < 100)) {
    s += `content-length: ${len}\r\n`;
    if (len > 0 && !hasType) s += 'content-type: text/plain; charset=utf-8\r\n';
  }
  if (close) s += 'connection: close\r\n';
  s += '\r\n';
  return headOnly || status === 204 || status === 304 ? s : s + body;
}
