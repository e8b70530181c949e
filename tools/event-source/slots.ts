/**
 * A counting semaphore with abortable waits: the event source's maximum concurrency. Lambda's poller does not read
 * from the queue while the mapping is at its maximum concurrency, so a poller takes a slot before it receives
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html#events-sqs-max-concurrency).
 */
export class Slots {
  private used = 0;
  private peakUsed = 0;
  private readonly waiting: Array<() => void> = [];

  /** @param size how many may be held at once (≥ 1) */
  constructor(readonly size: number) {}

  /**
   * Takes a slot, waiting for one to be released if all are held.
   *
   * @throws the signal's reason when it aborts first (then no slot is held)
   */
  async acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.used < this.size) {
      this.take();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(wake);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        this.take();
        resolve();
      };
      this.waiting.push(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Gives a slot back; the longest waiter, if any, takes it. */
  release(): void {
    this.used -= 1;
    this.waiting.shift()?.();
  }

  /** Slots held now. */
  get inUse(): number {
    return this.used;
  }

  /** The most slots held at once. */
  get peak(): number {
    return this.peakUsed;
  }

  private take(): void {
    this.used += 1;
    this.peakUsed = Math.max(this.peakUsed, this.used);
  }
}
