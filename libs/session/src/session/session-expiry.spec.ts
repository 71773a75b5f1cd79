import { resolveSessionOptions } from '../session-options.js';
import { cookieMaxAge, isPastAbsoluteTimeout, isTouchDue, sessionTtl } from './session-expiry.js';

// Pure functions of `now`: no clock is read, so no fake timers are needed.
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2030, 0, 1);

describe('session expiry rules', () => {
  describe('sessionTtl', () => {
    const options = resolveSessionOptions({ idleTimeout: 3600, absoluteTimeout: 4 * 3600 });

    it('is the idle timeout while the absolute timeout is further away', () => {
      expect(sessionTtl(T0, T0, options)).toBe(HOUR);
      expect(sessionTtl(T0, T0 + 3 * HOUR, options)).toBe(HOUR);
    });

    it('is cut short by the absolute timeout, counted from creation', () => {
      expect(sessionTtl(T0, T0 + 3.5 * HOUR, options)).toBe(30 * MINUTE);
      expect(sessionTtl(T0, T0 + 4 * HOUR - 1, options)).toBe(1);
    });

    it('is 0, never negative, once the absolute timeout is reached or past', () => {
      expect(sessionTtl(T0, T0 + 4 * HOUR, options)).toBe(0);
      expect(sessionTtl(T0, T0 + 5 * HOUR, options)).toBe(0);
    });

    it('uses the documented defaults: a day idle, a week absolute', () => {
      const defaults = resolveSessionOptions();
      expect(sessionTtl(T0, T0, defaults)).toBe(24 * HOUR);
      expect(sessionTtl(T0, T0 + 6.5 * 24 * HOUR, defaults)).toBe(12 * HOUR);
    });
  });

  describe('isPastAbsoluteTimeout', () => {
    const options = resolveSessionOptions({ idleTimeout: 60, absoluteTimeout: 3600 });

    it('is false before the absolute timeout and true from the moment it is reached', () => {
      expect(isPastAbsoluteTimeout(T0, T0, options)).toBe(false);
      expect(isPastAbsoluteTimeout(T0, T0 + HOUR - 1, options)).toBe(false);
      expect(isPastAbsoluteTimeout(T0, T0 + HOUR, options)).toBe(true);
      expect(isPastAbsoluteTimeout(T0, T0 + 2 * HOUR, options)).toBe(true);
    });
  });

  describe('isTouchDue', () => {
    it('by default, once the touch would gain a tenth of the idle timeout', () => {
      const options = resolveSessionOptions({ idleTimeout: 600, absoluteTimeout: 86_400 });
      const expiresAt = T0 + 10 * MINUTE;
      expect(isTouchDue(T0, expiresAt, T0, options)).toBe(false);
      expect(isTouchDue(T0, expiresAt, T0 + 59 * SECOND, options)).toBe(false);
      expect(isTouchDue(T0, expiresAt, T0 + 60 * SECOND, options)).toBe(true);
    });

    it('by default, at most a minute of gain is asked for, however long the idle timeout', () => {
      const options = resolveSessionOptions({ idleTimeout: 86_400 });
      const expiresAt = T0 + 24 * HOUR;
      expect(isTouchDue(T0, expiresAt, T0 + 59 * SECOND, options)).toBe(false);
      expect(isTouchDue(T0, expiresAt, T0 + MINUTE, options)).toBe(true);
    });

    it('rolling: whenever the expiry would move at all', () => {
      const options = resolveSessionOptions({ idleTimeout: 600, rolling: true });
      const expiresAt = T0 + 10 * MINUTE;
      expect(isTouchDue(T0, expiresAt, T0, options)).toBe(false);
      expect(isTouchDue(T0, expiresAt, T0 + 1, options)).toBe(true);
    });

    it('renew: once less than that share of the idle timeout is left', () => {
      const options = resolveSessionOptions({ idleTimeout: 1000, renew: 0.25 });
      const expiresAt = T0 + 1000 * SECOND;
      // 250 s left is not less than a quarter of 1000 s; 249.999 s is.
      expect(isTouchDue(T0, expiresAt, T0 + 700 * SECOND, options)).toBe(false);
      expect(isTouchDue(T0, expiresAt, T0 + 750 * SECOND, options)).toBe(false);
      expect(isTouchDue(T0, expiresAt, T0 + 750 * SECOND + 1, options)).toBe(true);
    });

    it('never when the absolute timeout leaves nothing to gain', () => {
      const options = resolveSessionOptions({ idleTimeout: 600, absoluteTimeout: 600, rolling: true });
      // Created at T0, it cannot outlive T0 + 10 min, which is already its expiry.
      expect(isTouchDue(T0, T0 + 10 * MINUTE, T0 + 5 * MINUTE, options)).toBe(false);
    });
  });

  describe('cookieMaxAge', () => {
    it('is the remaining lifetime in whole seconds, rounded up', () => {
      expect(cookieMaxAge(T0 + 600 * SECOND, T0)).toBe(600);
      expect(cookieMaxAge(T0 + 600 * SECOND, T0 + 1)).toBe(600);
      expect(cookieMaxAge(T0 + 1, T0)).toBe(1);
    });

    it('is 0, never negative, once expired', () => {
      expect(cookieMaxAge(T0, T0)).toBe(0);
      expect(cookieMaxAge(T0, T0 + MINUTE)).toBe(0);
    });
  });
});
