import type { IncomingHttpHeaders } from 'node:http';

interface MediaRange {
  type: string;
  quality: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [rawType, ...parameters] = part.split(';');
    const type = rawType.trim().toLowerCase();
    if (type === '') continue;
    let quality = 1;
    for (const parameter of parameters) {
      const [name, value] = parameter.split('=').map((piece) => piece.trim());
      if (name.toLowerCase() === 'q') {
        const parsed = Number(value);
        quality = Number.isFinite(parsed) ? parsed : 0;
      }
    }
    ranges.push({ type, quality });
  }
  return ranges;
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

function isJsonContent(headers: IncomingHttpHeaders): boolean {
  const contentType = headers['content-type'];
  return typeof contentType === 'string' && isJsonType(contentType.split(';')[0].trim().toLowerCase());
}

/**
 * Whether a client wants JSON rather than text or HTML: its `Accept` names a JSON type at least
 * as preferred as any text type, or (with no `Accept`, or only wildcards) it sent JSON itself.
 * Internal.
 */
export function acceptsJson(headers: IncomingHttpHeaders): boolean {
  const accept = headers.accept;
  const ranges = typeof accept === 'string' ? parseAccept(accept) : [];
  let json = 0;
  let text = 0;
  for (const { type, quality } of ranges) {
    if (isJsonType(type)) json = Math.max(json, quality);
    else if (type.startsWith('text/')) text = Math.max(text, quality);
  }
  if (json > 0 || text > 0) return json > 0 && json >= text;
  return isJsonContent(headers);
}
