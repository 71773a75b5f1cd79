import type { HttpException } from '@nestjs/common';
import { SecurityDeniedException, SecurityRedirectException } from '../security/security.exceptions.js';
import { closeCodeFor, disconnectClient, sendToClient } from './socket-client.js';

/**
 * What a socket client receives for a denial, in the shape of Nest's own `exception` message
 * (`{ status: 'error', message }`) plus the HTTP status the security function chose, the
 * redirect target of `redirectTo(url)`, and the body of `deny({ body })`. Internal.
 */
export interface WsDenialPayload {
  status: 'error';
  statusCode: number;
  message: string;
  location?: string;
  body?: unknown;
}

/** The payload for `denial`; a non-security error (a 500, a 503) carries its message only. */
export function wsDenialPayload(denial: HttpException): WsDenialPayload {
  const payload: WsDenialPayload = { status: 'error', statusCode: denial.getStatus(), message: denial.message };
  if (denial instanceof SecurityRedirectException) payload.location = denial.location;
  if (denial instanceof SecurityDeniedException && denial.body !== undefined) payload.body = denial.body;
  return payload;
}

type WsExceptionType = new (error: string | object) => Error;
let wsException: Promise<WsExceptionType | undefined> | undefined;

/**
 * `WsException` of `@nestjs/websockets`, loaded on first need. A gateway's message only runs in
 * an application that has the package, so the library does not depend on it.
 */
function loadWsException(): Promise<WsExceptionType | undefined> {
  wsException ??= import('@nestjs/websockets').then(
    (module) => module.WsException as unknown as WsExceptionType,
    () => undefined,
  );
  return wsException;
}

/**
 * The error a guard throws to refuse a gateway message: a `WsException` whose error object is
 * the denial payload, so Nest's gateway exception handling sends it to the client as an
 * `exception` message (and not as an HTTP response). Falls back to the denial itself when
 * `@nestjs/websockets` cannot be loaded (never the case inside a gateway). Internal.
 */
export async function toWsException(denial: HttpException): Promise<Error> {
  const WsException = await loadWsException();
  if (WsException === undefined) return denial;
  const error = new WsException(wsDenialPayload(denial));
  return Object.assign(error, { cause: denial });
}

/** Sends the denial to the client as an `exception` message and ends its connection. Internal. */
export function refuseConnection(client: unknown, denial: HttpException): void {
  const payload = wsDenialPayload(denial);
  sendToClient(client, 'exception', payload);
  disconnectClient(client, closeCodeFor(payload.statusCode), payload.message);
}
