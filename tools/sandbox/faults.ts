/**
 * Scripted faults of the Dfns sandbox: what a rate limiter, a proxy, a flaky network or a slow region does to a
 * request. Tests queue faults per route; each fault applies to the next `times` matching requests, in order.
 */

/** The sandbox's routes, named after the step of the deactivation flow they serve. */
export type SandboxRoute = 'init' | 'action' | 'deactivate' | 'get';

/** A canned HTTP answer that replaces (or, with `afterProcessing`, follows) the real handling. */
export interface FaultResponse {
  status: number;
  headers?: Record<string, string>;
  /**
   * A string is sent as is; anything else as JSON; a function is called with the request (method, path, headers,
   * body) to build the body, e.g. to echo what the client sent. Omitted: empty body.
   */
  body?: unknown;
}

/**
 * One scripted fault. Exactly one of `respond`, `hang`, `reset` may be set; with none of them the fault is only a
 * delay (a slow but correct answer).
 */
export interface SandboxFault {
  /** Which route it applies to; `*` for any. */
  route: SandboxRoute | '*';
  /** Only requests concerning this token ID (the PUT/GET path; at init and action, the path being signed). */
  tokenId?: string;
  /** How many matching requests it applies to. @default 1 */
  times?: number;
  /** Wait this long (ms) before anything else, processing included: a slow answer. */
  delayMs?: number;
  /** Answer with this instead of the real answer. */
  respond?: FaultResponse;
  /** Never answer; the request stays open until the client gives up (recorded as `closedByClient`). */
  hang?: boolean;
  /** Reset the TCP connection (RST) instead of answering. */
  reset?: boolean;
  /**
   * Send the status line, the headers and half of the body of `respond` (or of the real answer), then `hang` or
   * `reset`: a failure after the response has started.
   */
  midBody?: 'hang' | 'reset';
  /**
   * Process the request for real first (the token is deactivated, the user action consumed), then apply
   * `respond`/`hang`/`reset`: the client sees a failure although the work was done. @default false
   */
  afterProcessing?: boolean;
}

const STATUS_TEXT: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** A proxy's HTML error page, as load balancers answer 502/503/504. */
export function htmlError(status: number, retryAfter?: string): FaultResponse {
  const headers: Record<string, string> = { 'content-type': 'text/html' };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  return {
    status,
    headers,
    body: `<html><head><title>${status}</title></head><body><center><h1>${status} ${STATUS_TEXT[status] ?? 'Error'}</h1></center></body></html>`,
  };
}

/** A Dfns-shaped JSON error (`{"error":{"message":...}}`). */
export function dfnsError(status: number, message: string, headers: Record<string, string> = {}): FaultResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: errorBody(status, message) };
}

/** The error body the sandbox sends for every error it produces itself. */
export function errorBody(status: number, message: string): { error: { message: string; status: number } } {
  return { error: { message, status } };
}

interface ArmedFault {
  fault: SandboxFault;
  remaining: number;
}

/** The queue of faults of one sandbox. */
export class FaultScript {
  private readonly armed: ArmedFault[] = [];

  /** Adds a fault after those already queued. */
  add(fault: SandboxFault): void {
    const kinds = [fault.respond !== undefined, fault.hang === true, fault.reset === true].filter(Boolean).length;
    if (kinds > 1) throw new TypeError('a fault sets at most one of respond, hang, reset');
    if (fault.midBody && (fault.hang || fault.reset))
      throw new TypeError('midBody goes with respond or the real answer');
    const times = fault.times ?? 1;
    if (!(times > 0)) throw new TypeError('fault.times must be positive');
    this.armed.push({ fault, remaining: times });
  }

  /** Drops every queued fault. */
  clear(): void {
    this.armed.length = 0;
  }

  /** Faults not yet used up. */
  get pending(): number {
    return this.armed.length;
  }

  /** Takes the first fault matching this request, counting one use of it. */
  take(route: SandboxRoute, tokenId: string | undefined): SandboxFault | undefined {
    const index = this.armed.findIndex(
      (a) => (a.fault.route === '*' || a.fault.route === route) && (!a.fault.tokenId || a.fault.tokenId === tokenId),
    );
    if (index < 0) return undefined;
    const entry = this.armed[index] as ArmedFault;
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.armed.splice(index, 1);
    return entry.fault;
  }
}
