/*
 * Why writers and not Fastify's `onSend` hook (issue 12, checked 2026-12-02): `onSend` runs only
 * for what goes through `reply.send()` (a returned value, `reply.redirect`, a stream given to
 * `send`, Fastify's error and 404 replies). Everything written to `reply.raw` skips it, and
 * that is not rare: Nest's `@Sse()` writes its event stream to `reply.raw` (`writeHead`, then
 * `write`), and an `@Res()` handler may call `reply.raw.writeHead/end` or `reply.hijack()`.
 * Measured with plain Fastify 5 and an `onSend` hook: it ran for `/send` and `/redirect`,
 * not for a `reply.raw.end()` route nor a hijacked SSE route. The guarantee it cannot keep is
 * "committed before the first byte leaves, with the cookie on it" for those responses: an SSE
 * stream would go out without its Set-Cookie and before its changes are in the store
 * (test/commit-protocol.e2e-spec.ts, "an @Sse() route streams its events", asserts the
 * cookie), and a failed commit could no longer turn a raw response into the 503. A hook for
 * `send` plus writers for raw would be two mechanisms for one guarantee; Node's writers see
 * every way out, and replacing them per Fastify response costs nothing measurable (below).
 */
import { type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { SessionStoreUnavailableException } from '../session.exceptions.js';

/** What the gate needs from the request's session. */
export interface GatedSession {
  /** Settles at once when nothing is left to write; `false` when `finalize` must run. */
  settleIfIdle(status: number): boolean;
  finalize(status: number): Promise<void>;
  setCookieHeaders(): string[];
}

type Method = 'writeHead' | 'write' | 'end' | 'flushHeaders';
interface HeldCall {
  method: Method;
  args: unknown[];
}

const STORE_DOWN_BODY = JSON.stringify({
  statusCode: 503,
  message: 'Session store unavailable; please retry shortly.',
  error: 'Service Unavailable',
});

/** A commit that failed for another reason (a session value it could not save): logged where it failed. */
const COMMIT_FAILED_BODY = JSON.stringify({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });

/** Headers that describe the held response itself; a 503 in its place must not carry them. */
const RESPONSE_HEADERS = /^(set-cookie|location|content-[a-z-]+|etag|last-modified|transfer-encoding)$/i;

/** Adds our Set-Cookie values to what the response already carries, keeping the others. */
function addSetCookies(res: ServerResponse, args: unknown[], cookies: string[]): void {
  if (cookies.length === 0 || res.headersSent) return;
  // writeHead(status, [message,] headers): a headers object passed here overrides setHeader,
  // so a set-cookie entry in it must be extended in place.
  const last = args[args.length - 1];
  if (args.length > 1 && typeof last === 'object' && last !== null && !Array.isArray(last)) {
    const headers = last as OutgoingHttpHeaders;
    const name = Object.keys(headers).find((key) => key.toLowerCase() === 'set-cookie');
    if (name !== undefined) {
      headers[name] = [...toList(headers[name]), ...cookies];
      return;
    }
  }
  res.setHeader('Set-Cookie', [...toList(res.getHeader('Set-Cookie')), ...cookies]);
}

function toList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

function statusOf(method: Method, args: unknown[], res: ServerResponse): number {
  return method === 'writeHead' && typeof args[0] === 'number' ? args[0] : res.statusCode;
}

const WRITERS: readonly Method[] = ['writeHead', 'write', 'end', 'flushHeaders'];
type Writer = (this: ServerResponse, ...args: unknown[]) => unknown;
type Writers = Record<Method, Writer>;

/** The gate of each held response whose prototype carries the gated writers. */
const gates = new WeakMap<ServerResponse, ResponseGate>();
/**
 * The gate of a response whose own writers were replaced. Kept after release, so that a writer
 * someone took from the response while it was held still reaches the writer it replaced.
 */
const OWN_GATE = Symbol('novanest:response-gate');
type OwnGated = ServerResponse & { [OWN_GATE]?: ResponseGate };
/** A shared prototype given gated writers: the writers it inherited, ours, and its use. */
interface PatchedPrototype {
  readonly proto: object;
  readonly inherited: Writers;
  readonly gated: Writers;
  /** Responses of this prototype held by a gate right now. */
  held: number;
  /** No application uses the prototype any more: the writers go back once `held` is 0. */
  restoreWhenIdle: boolean;
}
/** Prototypes given gated writers. */
const patchedPrototypes = new WeakMap<object, PatchedPrototype>();
/** Applications using each platform prototype (see `retainResponsePrototype`). */
const prototypeUsers = new WeakMap<object, number>();

/** Whether the response's writers are held by a session gate right now. */
export function isGated(res: ServerResponse): boolean {
  const own = (res as OwnGated)[OWN_GATE];
  return gates.has(res) || (own !== undefined && !own.released);
}

/**
 * A platform's own response prototype (Express gives each application one, between the
 * response and Node's `ServerResponse.prototype`) inherits the writers instead of defining
 * them. Such a prototype is given gated writers once; Node's own classes are never changed.
 */
function sharedPrototypeOf(res: ServerResponse): object | undefined {
  const proto = Object.getPrototypeOf(res) as object | null;
  if (proto === null) return undefined;
  if (patchedPrototypes.has(proto)) return proto;
  return WRITERS.every((method) => !Object.prototype.hasOwnProperty.call(proto, method) && method in proto) ? proto : undefined;
}

/** Puts writers on the prototype that defer to a response's gate while it has one. */
function patchPrototype(proto: object): PatchedPrototype {
  const known = patchedPrototypes.get(proto);
  if (known !== undefined) return known;
  const inherited = {} as Writers;
  const gated = {} as Writers;
  for (const method of WRITERS) {
    const original = (proto as Writers)[method];
    inherited[method] = original;
    gated[method] = function (this: ServerResponse) {
      const gate = gates.get(this);
      // `arguments` passes an ungated call on without copying it (no rest array per write).
      // eslint-disable-next-line prefer-rest-params -- see above: the ungated path is every response's
      return gate === undefined ? original.apply(this, arguments as unknown as unknown[]) : gate.hold(method, [...arguments]);
    };
    Object.defineProperty(proto, method, { configurable: true, writable: true, enumerable: false, value: gated[method] });
  }
  const patched: PatchedPrototype = { proto, inherited, gated, held: 0, restoreWhenIdle: false };
  patchedPrototypes.set(proto, patched);
  return patched;
}

/**
 * Gives the prototype back the writers it inherited. A writer someone else has put over ours
 * stays (theirs may call ours, which passes every call on once no gate holds the response).
 */
function restorePrototype(patched: PatchedPrototype): void {
  patchedPrototypes.delete(patched.proto);
  for (const method of WRITERS) {
    if (Object.getOwnPropertyDescriptor(patched.proto, method)?.value === patched.gated[method]) {
      delete (patched.proto as Partial<Writers>)[method];
    }
  }
}

/**
 * The prototype a platform gives its responses, when it has one: Express's `app.response`.
 * `instance` is the platform's application (`HttpAdapterHost.httpAdapter.getInstance()`).
 * Internal.
 */
export function platformResponsePrototype(instance: unknown): object | undefined {
  const candidate = (instance as { response?: unknown } | null | undefined)?.response;
  if (typeof candidate !== 'object' || candidate === null) return undefined;
  return Object.prototype.isPrototypeOf.call(ServerResponse.prototype, candidate) ? candidate : undefined;
}

/**
 * Counts one more application whose responses use `proto` (see `releaseResponsePrototype`).
 * `SessionModule` calls it at bootstrap with its platform's prototype. Internal.
 */
export function retainResponsePrototype(proto: object): void {
  prototypeUsers.set(proto, (prototypeUsers.get(proto) ?? 0) + 1);
  const patched = patchedPrototypes.get(proto);
  if (patched !== undefined) patched.restoreWhenIdle = false;
}

/**
 * One application that used `proto` shut down. When it was the last one, the writers the gate
 * put on `proto` go back to the inherited ones, at once or, if a response of `proto` is still
 * held, as soon as the last one leaves (its commit is never skipped). Several applications can
 * share a prototype (two Nest apps over one Express instance): it stays gated while any of them
 * runs. A response that arrives later gates the prototype again. Internal.
 */
export function releaseResponsePrototype(proto: object): void {
  const users = (prototypeUsers.get(proto) ?? 0) - 1;
  if (users > 0) {
    prototypeUsers.set(proto, users);
    return;
  }
  prototypeUsers.delete(proto);
  const patched = patchedPrototypes.get(proto);
  if (patched === undefined) return;
  if (patched.held === 0) restorePrototype(patched);
  else patched.restoreWhenIdle = true;
}

/** Writers set on a single response (one set for all responses, so nothing is made per request). */
const OWN_WRITERS = Object.fromEntries(
  WRITERS.map((method) => [
    method,
    function (this: ServerResponse, ...args: unknown[]): unknown {
      const gate = (this as OwnGated)[OWN_GATE];
      if (gate !== undefined) return gate.hold(method, args);
      return (Object.getPrototypeOf(this) as Writers)[method].apply(this, args);
    },
  ]),
) as Writers;

/**
 * Commits the session when the response starts to leave, with the status it actually carries,
 * and holds the response until then. Express and Fastify both end in Node's `writeHead`,
 * `write`, `end` (and `flushHeaders` for streams such as SSE), so gating those covers every
 * way a response leaves: a returned value, an exception filter (whatever status it picks), a
 * redirect from an `@Res()` handler, a stream.
 *
 * How the writers are gated depends on the response, for speed: Express gives every response
 * its application's prototype, and own properties on such a response slow all later work on
 * it (about 50 µs per request, measured), so that prototype gets gated writers once and each
 * response only gets an entry in a WeakMap. A response straight from Node's class (Fastify)
 * has its own writers replaced instead, which costs nothing measurable there.
 *
 * A response whose session has nothing to write goes out at once. Otherwise its calls are
 * queued, the session is committed (a 5xx commits nothing), and the calls are replayed with
 * the session cookie added, so a client that follows a redirect always finds the data. If the
 * commit fails, the client gets a 503 instead of the held response: never a success that did
 * not persist.
 */
export function gateResponse(res: ServerResponse, session: GatedSession): void {
  const proto = sharedPrototypeOf(res);
  if (proto !== undefined) {
    const patched = patchPrototype(proto);
    patched.held++;
    gates.set(res, new ResponseGate(res, session, patched.inherited, patched));
    return;
  }
  const own = res as unknown as Writers;
  const original: Writers = { writeHead: own.writeHead, write: own.write, end: own.end, flushHeaders: own.flushHeaders };
  (res as OwnGated)[OWN_GATE] = new ResponseGate(res, session, original, undefined);
  for (const method of WRITERS) own[method] = OWN_WRITERS[method];
}

/** One held response: its session, the writers to call once it may go, and the calls held. */
class ResponseGate {
  private held: HeldCall[] = [];
  /** The response goes out through its original writers from here on. */
  released = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly session: GatedSession,
    private readonly original: Writers,
    /** The shared prototype whose writers hold the response; none when they were set on the response itself (they go back when released). */
    private readonly prototype: PatchedPrototype | undefined,
  ) {}

  hold(method: Method, args: unknown[]): unknown {
    const { res, session, held } = this;
    if (this.released) return this.original[method].apply(res, args);
    if (held.length === 0 && session.settleIfIdle(statusOf(method, args, res))) {
      this.release();
      addSetCookies(res, method === 'writeHead' ? args : [], session.setCookieHeaders());
      return this.original[method].apply(res, args);
    }
    held.push({ method, args });
    if (held.length === 1) {
      session
        .finalize(statusOf(method, args, res))
        .then(
          () => this.replay(),
          (error: unknown) => this.answerFailure(error),
        )
        .catch((error: unknown) => res.destroy(error instanceof Error ? error : undefined));
    }
    if (method === 'write') return false;
    return method === 'flushHeaders' ? undefined : res;
  }

  /** From here on the response's writers are the platform's again. */
  private release(): void {
    this.released = true;
    gates.delete(this.res);
    const patched = this.prototype;
    if (patched !== undefined) {
      patched.held--;
      if (patched.held === 0 && patched.restoreWhenIdle) restorePrototype(patched);
      return;
    }
    const own = this.res as unknown as Writers;
    for (const method of WRITERS) own[method] = this.original[method];
  }

  private replay(): void {
    const { res } = this;
    this.release();
    const calls = this.held.splice(0);
    const head = calls.find((call) => call.method === 'writeHead');
    addSetCookies(res, head?.args ?? [], this.session.setCookieHeaders());
    for (const call of calls) {
      // A second writeHead (Node's implicit one) after the headers left would throw.
      if (call.method === 'writeHead' && res.headersSent) continue;
      this.original[call.method].apply(res, call.args);
    }
    // Writers that saw `false` from a held write wait for this.
    if (calls.some((call) => call.method === 'write')) res.emit('drain');
  }

  private answerFailure(error: unknown): void {
    const { res } = this;
    this.release();
    const head = this.held.find((call) => call.method === 'writeHead');
    this.held.length = 0;
    if (res.headersSent) {
      // Too late for a status line: cut the response so the client cannot take it as a success.
      res.destroy();
      return;
    }
    // Headers the platform passed straight to writeHead (Fastify does) still apply to the 503.
    const passed = head?.args[head.args.length - 1];
    if (head !== undefined && head.args.length > 1 && typeof passed === 'object' && passed !== null && !Array.isArray(passed)) {
      for (const [name, value] of Object.entries(passed as OutgoingHttpHeaders)) {
        if (value !== undefined) res.setHeader(name, value);
      }
    }
    for (const name of res.getHeaderNames()) {
      if (RESPONSE_HEADERS.test(name)) res.removeHeader(name);
    }
    const storeDown = error instanceof SessionStoreUnavailableException;
    const body = storeDown ? STORE_DOWN_BODY : COMMIT_FAILED_BODY;
    res.statusCode = storeDown ? 503 : 500;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  }
}
