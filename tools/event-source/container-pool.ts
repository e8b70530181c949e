/**
 * The function's execution environments: reuses an idle warm one, else starts a cold one, as Lambda does
 * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html), and forgets a dead one. How many
 * run at once is bounded by the caller's slots (tools/event-source/slots.ts), not here: Lambda counts concurrency
 * per event source mapping, while environments belong to the function and any mapping of it may reuse them.
 *
 * Not modelled: Lambda shuts idle environments down after a while; here an idle one waits until {@link close}.
 */
import { Container, type ContainerSettings } from './container.js';

/** What a test or the benchmark sees of a container. */
export interface ContainerInfo {
  id: number;
  pid: number | undefined;
  /** Invocations given to it so far (the first one was cold). */
  invocations: number;
  frozen: boolean;
  /** The invocation under way: its request ID and message IDs. */
  running: { requestId: string; messageIds: readonly string[] } | undefined;
}

/** The live containers of one function, by ID (1, 2, … in the order they started). */
export class ContainerPool {
  private readonly containers = new Map<number, Container>();
  private nextId = 1;
  private peak = 0;

  constructor(private readonly settings: ContainerSettings) {}

  /**
   * A container for one invocation: the longest-idle live one (warm), or a new one (cold, its Init starts now).
   * Call {@link Container.invoke} on it at once, in the same turn, so no one else takes it.
   */
  take(): { container: Container; cold: boolean } {
    for (const container of this.containers.values()) {
      if (container.alive && container.running === undefined) {
        // Map order is start order; moving it to the end makes the next take() prefer the one idle longest.
        this.containers.delete(container.id);
        this.containers.set(container.id, container);
        return { container, cold: false };
      }
    }
    const container = new Container(this.nextId++, this.settings);
    this.containers.set(container.id, container);
    void container.exited.then(() => this.containers.delete(container.id));
    this.peak = Math.max(this.peak, this.alive().length);
    return { container, cold: true };
  }

  /** The live container with this ID, if any. */
  get(id: number): Container | undefined {
    const container = this.containers.get(id);
    return container?.alive ? container : undefined;
  }

  /** The live container whose invocation under way holds this message, if any. */
  running(messageId: string): Container | undefined {
    return this.alive().find((c) => c.running?.messageIds.includes(messageId));
  }

  /** The live containers, in ID order. */
  list(): ContainerInfo[] {
    return this.alive()
      .sort((a, b) => a.id - b.id)
      .map((c) => ({ id: c.id, pid: c.pid, invocations: c.invocations, frozen: c.frozen, running: c.running }));
  }

  /** The most containers that were alive at once. */
  get peakAlive(): number {
    return this.peak;
  }

  /** Kills every container (SIGKILL) and waits until their processes have exited. */
  async close(reason: string): Promise<void> {
    const all = [...this.containers.values()];
    for (const container of all) container.kill(reason);
    await Promise.all(all.map((c) => c.exited));
  }

  private alive(): Container[] {
    return [...this.containers.values()].filter((c) => c.alive);
  }
}
