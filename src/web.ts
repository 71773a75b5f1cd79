import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/**
 * Headers of every HTML page the demo sends: no scripts and nothing from elsewhere, forms
 * posted only to this origin, never framed (another site cannot overlay the logout buttons:
 * clickjacking), never cached (pages carry the session's CSRF token and the user's data).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/**
 * Writes the responses of routes that answer browsers with pages and JSON clients with JSON,
 * through Nest's HTTP adapter, so Express and Fastify send the same bytes. Used with `@Res()`.
 */
@Injectable()
export class Web {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** An HTML page, with `PAGE_HEADERS`. */
  page(response: unknown, body: string, status = 200): void {
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(response, 'Content-Type', 'text/html; charset=utf-8');
    for (const [name, value] of Object.entries(PAGE_HEADERS)) adapter.setHeader(response, name, value);
    adapter.setHeader(response, 'Vary', 'Accept');
    adapter.reply(response, body, status);
  }

  /** A JSON body. */
  json(response: unknown, body: unknown, status = 200): void {
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8');
    adapter.setHeader(response, 'Cache-Control', 'no-store');
    adapter.setHeader(response, 'Vary', 'Accept');
    adapter.reply(response, JSON.stringify(body), status);
  }

  /** 303 See Other: after a form's POST, the browser GETs the next page. */
  seeOther(response: unknown, url: string): void {
    this.adapterHost.httpAdapter.redirect(response, 303, url);
  }

  /** 302 Found: a page that is not for this visitor sends them to the one that is. */
  found(response: unknown, url: string): void {
    this.adapterHost.httpAdapter.redirect(response, 302, url);
  }
}
