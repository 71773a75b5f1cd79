import type { IncomingHttpHeaders } from 'node:http';

function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/** Each media range of an Accept header with its quality (q, default 1). */
function acceptedTypes(accept: string): Array<{ type: string; quality: number }> {
  return accept.split(',').flatMap((part) => {
    const [rawType, ...parameters] = part.split(';');
    const type = rawType.trim().toLowerCase();
    if (type === '') return [];
    const q = parameters.map((parameter) => parameter.trim().toLowerCase()).find((parameter) => parameter.startsWith('q='));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    return [{ type, quality: Number.isFinite(quality) ? quality : 0 }];
  });
}

/**
 * Whether the client wants JSON rather than a page: its Accept header prefers a JSON type to
 * every text type (`Accept: application/json`), or, with no Accept header (or only wildcards),
 * it sent a JSON body itself. Browsers ask for text/html, so they get pages.
 */
export function wantsJson(headers: IncomingHttpHeaders): boolean {
  let json = 0;
  let text = 0;
  const accept = headers.accept;
  for (const { type, quality } of typeof accept === 'string' ? acceptedTypes(accept) : []) {
    if (isJsonType(type)) json = Math.max(json, quality);
    else if (type.startsWith('text/')) text = Math.max(text, quality);
  }
  if (json > 0 || text > 0) return json > 0 && json >= text;
  const contentType = headers['content-type'];
  return typeof contentType === 'string' && isJsonType(contentType.split(';')[0].trim().toLowerCase());
}
