import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/**
 * Writes the responses of routes that answer browsers with pages and JSON clients with JSON,
 * through Nest's HTTP adapter, so Express and Fastify send the same bytes. Used with `@Res()`.
 */
@Injectable()
export class Web {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** An HTML page. Never cached: pages carry the session's CSRF token and the user's data. */
  page(response: unknown, body: string, status = 200): void {
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(response, 'Content-Type', 'text/html; charset=utf-8');
    adapter.setHeader(response, 'Cache-Control', 'no-store');
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
}
