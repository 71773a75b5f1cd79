import { randomBytes } from 'node:crypto';

/**
 * Random bytes from the operating system's CSPRNG (`crypto.randomBytes`), drawn in batches of
 * `batch` pieces of `size` bytes: one call to the CSPRNG per batch instead of one per piece.
 * Each piece is read out and then zeroed in the pool, so the pool never holds bytes that were
 * handed out. Internal.
 */
export class RandomPool {
  private pool = Buffer.alloc(0);
  private offset = 0;

  constructor(
    private readonly size: number,
    private readonly batch: number,
  ) {}

  /** The next piece, as `read` takes it out of the pool (bytes `start` to `end`). */
  take<T>(read: (pool: Buffer, start: number, end: number) => T): T {
    if (this.offset + this.size > this.pool.length) {
      this.pool = randomBytes(this.size * this.batch);
      this.offset = 0;
    }
    const start = this.offset;
    const end = start + this.size;
    const piece = read(this.pool, start, end);
    this.pool.fill(0, start, end);
    this.offset = end;
    return piece;
  }
}
