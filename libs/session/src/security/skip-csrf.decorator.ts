import { Reflector } from '@nestjs/core';

/** Metadata carrier read by `SessionCsrfGuard`. Internal. */
export const SKIP_CSRF_METADATA = Reflector.createDecorator<boolean>();

/**
 * Exempts a route handler (or every route of a controller) from `SessionCsrfGuard`: for a
 * webhook signed by its sender, or an API authenticated by a bearer token rather than the
 * session cookie. `@SkipCsrf(false)` on a handler checks it again inside an exempt controller.
 * Never put it on a route that acts on the session of a browser: that is what CSRF forges.
 */
export function SkipCsrf(skip = true): ClassDecorator & MethodDecorator {
  return SKIP_CSRF_METADATA(skip);
}
