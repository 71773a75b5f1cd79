import { type ArgumentsHost, Catch, type ExceptionFilter, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingHttpHeaders } from 'node:http';
import { acceptsJson } from './accepts-json.js';
import { SecurityDeniedException, SecurityRedirectException } from './security.exceptions.js';
import { sendToClient } from '../websocket/socket-client.js';
import { wsDenialPayload } from '../websocket/ws-denial.js';

interface RenderedBody {
  contentType: string;
  payload: string;
}

/**
 * Renders `SecurityDeniedException`s: status, headers and body as the security function asked
 * (a redirect for `SecurityRedirectException`); a default body is JSON for JSON clients and
 * short text otherwise. `SessionModule` registers it globally; a filter of yours for
 * `SecurityDeniedException` on a controller or route takes precedence.
 */
@Catch(SecurityDeniedException)
@Injectable()
export class SecurityDeniedFilter implements ExceptionFilter<SecurityDeniedException> {
  constructor(protected readonly adapterHost: HttpAdapterHost) {}

  catch(exception: SecurityDeniedException, host: ArgumentsHost): void {
    // Used on a gateway: no HTTP response to write, the client gets an `exception` message.
    if (host.getType() === 'ws') return sendToClient(host.switchToWs().getClient(), 'exception', wsDenialPayload(exception));
    const adapter = this.adapterHost.httpAdapter;
    const http = host.switchToHttp();
    const request = http.getRequest<{ headers: IncomingHttpHeaders }>();
    const response: unknown = http.getResponse();
    if (adapter.isHeadersSent(response)) {
      adapter.end(response);
      return;
    }
    for (const [name, value] of Object.entries(exception.headers)) {
      if (name === 'location' && exception instanceof SecurityRedirectException) continue;
      adapter.setHeader(response, name, value);
    }
    if (exception instanceof SecurityRedirectException) {
      adapter.redirect(response, exception.getStatus(), exception.location);
      return;
    }
    const body = this.renderBody(exception, request.headers);
    if (exception.headers['content-type'] === undefined) {
      adapter.setHeader(response, 'Content-Type', body.contentType);
    }
    adapter.reply(response, body.payload, exception.getStatus());
  }

  /** The body as text; override to render denials differently (an HTML page, a problem+json). */
  protected renderBody(exception: SecurityDeniedException, headers: IncomingHttpHeaders): RenderedBody {
    const body = exception.body;
    if (typeof body === 'string') return { contentType: 'text/plain; charset=utf-8', payload: body };
    if (body !== undefined) {
      return { contentType: 'application/json; charset=utf-8', payload: JSON.stringify(body) };
    }
    if (acceptsJson(headers)) {
      return {
        contentType: 'application/json; charset=utf-8',
        payload: JSON.stringify(exception.getResponse()),
      };
    }
    return { contentType: 'text/plain; charset=utf-8', payload: `${exception.message}\n` };
  }
}
