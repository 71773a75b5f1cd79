import { Reflector } from '@nestjs/core';
import type { SecurityCheckType, SecurityFn, SecuritySetting } from './security.interface.js';

/** Metadata carrier read by `SessionAuthGuard`. Internal. */
export const SECURITY_METADATA = Reflector.createDecorator<SecuritySetting>();

/** The setting is a `SecurityCheck` class (a function whose prototype has `check`). Internal. */
export function isSecurityCheckType(setting: SecurityFn | SecurityCheckType): setting is SecurityCheckType {
  const prototype = (setting as { prototype?: { check?: unknown } }).prototype;
  return typeof prototype === 'object' && prototype !== null && typeof prototype.check === 'function';
}

function isClassSyntax(value: object): boolean {
  return Function.prototype.toString.call(value).startsWith('class');
}

/**
 * Secures a controller or a route handler, checked by `SessionAuthGuard` (Nova's
 * `security => fun`). On a handler it overrides its controller's setting.
 * - `@Security(fn)`: a `SecurityFn`, `({ request, session, params }) => result`;
 * - `@Security(SomeCheck)`: an `@Injectable()` class implementing `SecurityCheck`, taken from
 *   Nest's container so it can inject services;
 * - `@Security(false)`: public, even inside a secured controller.
 *
 * Throws `TypeError` at class definition for anything else (a class without `check`).
 */
export function Security(setting: SecuritySetting): ClassDecorator & MethodDecorator {
  if (setting !== false) {
    if (typeof setting !== 'function') {
      throw new TypeError('@Security() takes a security function, a SecurityCheck class or false');
    }
    if (!isSecurityCheckType(setting) && isClassSyntax(setting)) {
      throw new TypeError(`@Security(${setting.name}): a security class needs a check(context) method`);
    }
  }
  return SECURITY_METADATA(setting);
}
