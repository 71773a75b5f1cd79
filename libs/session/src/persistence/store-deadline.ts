/**
 * The store did not answer within the `storeTimeout` deadline. It becomes the `cause` of the
 * request's `SessionStoreUnavailableException` (a 503), exactly as a refused connection does.
 */
export class SessionStoreTimeoutError extends Error {
  override readonly name = 'SessionStoreTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms (storeTimeout)`);
  }
}

/**
 * Settles with `call`'s outcome, or rejects with `SessionStoreTimeoutError` once `timeoutMs`
 * have passed without one. The call itself cannot be cancelled: a late answer is dropped (a
 * late failure too, so it never becomes an unhandled rejection), whatever it did at the store.
 * One timer per call, cleared as soon as the call settles, so nothing is left behind. A plain
 * promise and two callbacks rather than `Promise.race`, which would allocate a second promise
 * and keep the timer alive after the race (measured in `store-deadline.bench.ts`). Internal.
 */
export function withDeadline<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  let pending: Promise<T>;
  try {
    pending = call();
  } catch (error) {
    // A store method that throws instead of rejecting fails like one that rejects.
    return Promise.reject(error);
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new SessionStoreTimeoutError(timeoutMs)), timeoutMs);
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
