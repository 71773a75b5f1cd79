import { SessionStoreTimeoutError, withDeadline } from './store-deadline.js';

describe('withDeadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes an answer within the deadline through and leaves no timer behind', async () => {
    vi.useFakeTimers();
    await expect(withDeadline(() => Promise.resolve('answer'), 1000)).resolves.toBe('answer');
    await expect(withDeadline(() => Promise.reject(new Error('refused')), 1000)).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with SessionStoreTimeoutError at the deadline and ignores the late answer', async () => {
    vi.useFakeTimers();
    let answer: (value: string) => void = () => undefined;
    const outcome = withDeadline(() => new Promise<string>((resolve) => (answer = resolve)), 500);
    const settled = outcome.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await vi.advanceTimersByTimeAsync(499);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const result = await settled;
    expect(result).toEqual({ error: expect.any(SessionStoreTimeoutError) });
    expect((result as { error: SessionStoreTimeoutError }).error.message).toBe('no answer within 500 ms (storeTimeout)');
    answer('late');
    await expect(outcome).rejects.toBeInstanceOf(SessionStoreTimeoutError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('turns a late failure into nothing (no unhandled rejection)', async () => {
    vi.useFakeTimers();
    let fail: (error: Error) => void = () => undefined;
    const outcome = withDeadline(() => new Promise<never>((_, reject) => (fail = reject)), 100);
    const caught = outcome.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(100);
    expect(await caught).toBeInstanceOf(SessionStoreTimeoutError);
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    fail(new Error('late failure'));
    vi.useRealTimers();
    await new Promise((resolve) => setTimeout(resolve, 10));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('treats a store method that throws like one that rejects', async () => {
    await expect(
      withDeadline(() => {
        throw new Error('thrown');
      }, 100),
    ).rejects.toThrow('thrown');
  });
});
