/**
 * No budget spent twice (CONTRACT section 8): the container remembers which tokens it switched off for which
 * request (`continuationOf`, else the record's `messageId`), so a redelivered record or a duplicate continuation of
 * the same request reports them `already_inactive` without a Dfns call. A new request always sends the flow: a
 * token reactivated after a false positive can be revoked again.
 */

/** When and by which delivery a token was switched off. */
export interface FinishedToken {
  /** ISO 8601. */
  at: string;
  /** The `messageId` of the record whose delivery switched it off. */
  messageId: string;
}

/** Most tokens remembered per container; the oldest requests are forgotten first (memory stays bounded). */
export const MAX_REMEMBERED_TOKENS = 20_000;

/** The tokens one container switched off, per request. */
export class FinishedTokens {
  private readonly byRequest = new Map<string, Map<string, FinishedToken>>();
  private size = 0;

  constructor(private readonly max = MAX_REMEMBERED_TOKENS) {}

  /** When `tokenId` was switched off for the request `requestKey`, if this container did it. */
  get(requestKey: string, tokenId: string): FinishedToken | undefined {
    return this.byRequest.get(requestKey)?.get(tokenId);
  }

  /** Remembers that `tokenId` is off for the request `requestKey`. */
  remember(requestKey: string, tokenId: string, finished: FinishedToken): void {
    let tokens = this.byRequest.get(requestKey);
    if (!tokens) {
      tokens = new Map();
      this.byRequest.set(requestKey, tokens);
    }
    if (!tokens.has(tokenId)) this.size += 1;
    tokens.set(tokenId, finished);
    // Oldest requests first; the one being written last, and then its own oldest tokens.
    for (const [key, oldest] of this.byRequest) {
      if (this.size <= this.max) return;
      if (key === requestKey) continue;
      this.size -= oldest.size;
      this.byRequest.delete(key);
    }
    for (const token of tokens.keys()) {
      if (this.size <= this.max) return;
      tokens.delete(token);
      this.size -= 1;
    }
  }
}
