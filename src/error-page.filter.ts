import { type ArgumentsHost, Catch, HttpException, Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { HttpAdapterHost } from '@nestjs/core';
import { SecurityDeniedException, SecurityDeniedFilter, SessionCsrfException, SessionService } from '@novanest/session';
import { wantsJson } from './negotiation.js';
import { errorPage, type PageUser } from './pages.js';
import { PAGE_HEADERS } from './web.js';

interface RenderedBody {
  contentType: string;
  payload: string;
}

/** Title and advice of the error pages a browser may meet. */
function describe(status: number, exception: HttpException, path: string): { title: string; detail: string } {
  if (exception instanceof SessionCsrfException) {
    return exception.reason === 'cross-origin'
      ? { title: 'Request refused', detail: 'This form was sent from another site, so nothing was done.' }
      : {
          title: 'Form expired',
          detail: 'This form is no longer valid (the session changed), so nothing was done. Go back, reload the page and try again.',
        };
  }
  switch (status) {
    case 400:
      return { title: 'Bad request', detail: exception.message };
    case 401:
      return { title: 'Please log in', detail: 'This page is for logged-in users.' };
    case 403:
      return { title: 'Forbidden', detail: exception.message };
    case 404:
      return { title: 'Page not found', detail: `There is nothing at ${path}.` };
    default:
      return { title: status >= 500 ? 'Something went wrong' : 'Request failed', detail: exception.message };
  }
}

function pathOf(request: { url?: string; originalUrl?: string }): string {
  const url = request.originalUrl ?? request.url ?? '/';
  return url.split('?')[0];
}

/**
 * The demo's error responses: an HTML page for browsers, Nest's JSON error for JSON clients
 * (see `wantsJson`), for every HTTP error (404 for unknown paths, the CSRF guard's 403, 400s)
 * and for the security functions' denials. A denial that carries its own body (the login
 * form's) is sent as it is, by the library's filter this one extends.
 */
@Catch(HttpException)
@Injectable()
export class ErrorPageFilter extends SecurityDeniedFilter {
  constructor(
    adapterHost: HttpAdapterHost,
    private readonly sessions: SessionService,
  ) {
    super(adapterHost);
  }

  override catch(exception: HttpException, host: ArgumentsHost): ReturnType<SecurityDeniedFilter['catch']> {
    if (host.getType() !== 'http') return super.catch(exception as SecurityDeniedException, host);
    const adapter = this.adapterHost.httpAdapter;
    const http = host.switchToHttp();
    if (!adapter.isHeadersSent(http.getResponse())) {
      for (const [name, value] of Object.entries(PAGE_HEADERS)) adapter.setHeader(http.getResponse(), name, value);
    }
    if (exception instanceof SecurityDeniedException) return super.catch(exception, host);
    const request = http.getRequest<{ headers: IncomingHttpHeaders; url?: string; originalUrl?: string }>();
    const response: unknown = http.getResponse();
    if (adapter.isHeadersSent(response)) {
      adapter.end(response);
      return undefined;
    }
    const status = exception.getStatus();
    // A page nobody serves still shows who is signed in (the header); other errors keep the
    // request's session as the refusal left it.
    if (status === 404 && !wantsJson(request.headers)) {
      void this.signedIn(request).then((user) => this.send(response, this.render(status, exception, request, user), status));
      return undefined;
    }
    this.send(response, this.render(status, exception, request), status);
    return undefined;
  }

  private send(response: unknown, body: RenderedBody, status: number): void {
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(response, 'Content-Type', body.contentType);
    adapter.setHeader(response, 'Vary', 'Accept');
    adapter.reply(response, body.payload, status);
  }

  /** The signed-in user for the page header, or `undefined` (also when the store cannot say). */
  private async signedIn(request: object): Promise<PageUser | undefined> {
    try {
      const username = await this.sessions.getSession(request).get('username');
      if (typeof username !== 'string') return undefined;
      return { username, csrfToken: await this.sessions.csrfToken(request) };
    } catch {
      return undefined;
    }
  }

  protected override renderBody(exception: SecurityDeniedException, headers: IncomingHttpHeaders): RenderedBody {
    if (exception.body !== undefined || wantsJson(headers)) return super.renderBody(exception, { ...headers, accept: 'application/json' });
    const { title, detail } = describe(exception.getStatus(), exception, '');
    return { contentType: 'text/html; charset=utf-8', payload: errorPage(exception.getStatus(), title, detail) };
  }

  private render(
    status: number,
    exception: HttpException,
    request: { headers: IncomingHttpHeaders; url?: string; originalUrl?: string },
    user?: PageUser,
  ): RenderedBody {
    if (wantsJson(request.headers)) {
      const response = exception.getResponse();
      const json = typeof response === 'string' ? { statusCode: status, message: response } : response;
      return { contentType: 'application/json; charset=utf-8', payload: JSON.stringify(json) };
    }
    const { title, detail } = describe(status, exception, pathOf(request));
    return { contentType: 'text/html; charset=utf-8', payload: errorPage(status, title, detail, user) };
  }
}
