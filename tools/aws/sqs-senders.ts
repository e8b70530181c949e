/**
 * The `SenderId` of each message at the loopback SQS, as SQS reports it: the identity of the principal that sent it.
 * `local-aws-sqs` gives every message one fixed `SenderId`, which would make every sender look like every other (and
 * like the function's own role, whose continuations the function trusts). Here each request's sender is the access
 * key ID of its SigV4 signature (`Credential=<AKID>/<date>/<region>/sqs/aws4_request`), mapped to an identity by a
 * registry, and the `SenderId` of ReceiveMessage answers is rewritten by message ID.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The actions whose answers say who sent what (JSON protocol: `X-Amz-Target: AmazonSQS.<Action>`). */
const WATCHED = new Set([
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'StartMessageMoveTask',
  'GetQueueAttributes',
]);

const digest = (text: string) => createHash('sha256').update(text).digest('hex').toUpperCase();

/**
 * Who sent each message, by the access keys that signed the sends.
 *
 * - A registered access key sends as its registered identity (`<role unique ID>:<session>` for an assumed role,
 *   `AIDA…` for an IAM user).
 * - An unregistered one sends as an IAM user of its own: `AIDA` and 17 characters derived from the key, the same on
 *   every run (so the default client's `test` key is one sender, and never the function's role).
 * - An unsigned request sends as the account (its ID), as SQS reports the root user.
 * - The redrive policy keeps a message's ID, and so its sender. A message move task (`StartMessageMoveTask`, the CLI's
 *   redrive) gives each moved message a new ID, in SQS as here; SQS does not document its `SenderId`, and here it is the
 *   identity that started the move (the task sends with that principal's `sqs:SendMessage`): a redriven continuation
 *   is then a fresh request, not the function's own, as the README says of an operator's redrive.
 *
 * Only JSON-protocol answers (every current AWS SDK) are rewritten; query-protocol (XML) answers keep the fixed value.
 */
export class SenderIds {
  private readonly byAccessKey = new Map<string, string>();
  private readonly byMessageId = new Map<string, string>();
  /** Who started the latest message move task: the sender of messages with an ID no send produced. */
  private mover: string | undefined;
  /** Called once a send or receive of `sender` has been answered with success (tests pick a moment by it). */
  onAnswered: ((action: string, sender: string) => void) | undefined;
  /** Called with the body and sender of every message a receive hands out (the test suite's leak scan reads them). */
  onReceived: ((body: string, senderId: string) => void) | undefined;

  constructor(private readonly accountId: string) {}

  /** Requests signed with `accessKeyId` send as `senderId` from now on (replacing an earlier registration). */
  register(accessKeyId: string, senderId: string): void {
    this.byAccessKey.set(accessKeyId, senderId);
  }

  /** The access key that sends as `senderId` (`AKIA` and 16 characters derived from it), registered. */
  accessKeyFor(senderId: string): string {
    const accessKeyId = `AKIA${digest(`sender:${senderId}`).slice(0, 16)}`;
    this.register(accessKeyId, senderId);
    return accessKeyId;
  }

  /** The `SenderId` of messages sent with `accessKeyId` (undefined: an unsigned request). */
  of(accessKeyId: string | undefined): string {
    if (accessKeyId === undefined) return this.accountId;
    return this.byAccessKey.get(accessKeyId) ?? `AIDA${digest(`user:${accessKeyId}`).slice(0, 17)}`;
  }

  /**
   * Serves one request with `next` (local-aws-sqs's handler), noting the message IDs its sends answer with and
   * rewriting the `SenderId` of the messages it receives.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    next: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): Promise<void> {
    const target = req.headers['x-amz-target'];
    const action = typeof target === 'string' ? target.replace(/^AmazonSQS\./, '') : undefined;
    if (action === undefined || !WATCHED.has(action)) return next(req, res);
    const sender = this.of(/\bCredential=([^/,\s]+)\//.exec(req.headers.authorization ?? '')?.[1]);
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      const [chunk] = args;
      if (res.statusCode === 200 && (typeof chunk === 'string' || Buffer.isBuffer(chunk))) {
        args[0] = this.answered(action, sender, chunk.toString());
      }
      const ended = end(...args);
      // After the answer is on its way: the request's effect (a message stored) is done whatever the caller does.
      if (res.statusCode === 200) this.onAnswered?.(action, sender);
      return ended;
    }) as typeof res.end;
    return next(req, res);
  }

  /** Notes what a successful answer of `action` to `sender` says, and returns it with senders rewritten. */
  private answered(action: string, sender: string, body: string): string {
    if (action === 'GetQueueAttributes') return visibleOnly(body);
    if (action === 'StartMessageMoveTask') {
      this.mover = sender;
      return body;
    }
    let answer: {
      MessageId?: string;
      Successful?: { MessageId?: string }[];
      Messages?: { MessageId?: string; Body?: string; Attributes?: Record<string, string> }[];
    };
    try {
      answer = JSON.parse(body);
    } catch {
      return body; // not the JSON protocol's answer: left as it is
    }
    if (action === 'SendMessage' && answer.MessageId !== undefined) this.byMessageId.set(answer.MessageId, sender);
    for (const { MessageId } of action === 'SendMessageBatch' ? (answer.Successful ?? []) : []) {
      if (MessageId !== undefined) this.byMessageId.set(MessageId, sender);
    }
    if (action !== 'ReceiveMessage') return body;
    for (const message of answer.Messages ?? []) {
      if (message.MessageId === undefined) continue;
      const senderId = this.byMessageId.get(message.MessageId) ?? this.mover ?? this.accountId;
      this.byMessageId.set(message.MessageId, senderId); // a moved message keeps the mover of its first receive
      if (message.Attributes?.SenderId !== undefined) message.Attributes.SenderId = senderId;
      if (typeof message.Body === 'string') this.onReceived?.(message.Body, senderId);
    }
    return JSON.stringify(answer);
  }
}

/**
 * local-aws-sqs counts a message in flight in `ApproximateNumberOfMessages` too (its own move task subtracts the
 * in-flight count from it); SQS counts only the messages available for retrieval. Corrected when the answer holds
 * both counts, as every caller here asks.
 */
function visibleOnly(body: string): string {
  let answer: { Attributes?: Record<string, string> };
  try {
    answer = JSON.parse(body);
  } catch {
    return body;
  }
  const attributes = answer.Attributes;
  const all = attributes?.ApproximateNumberOfMessages;
  const inFlight = attributes?.ApproximateNumberOfMessagesNotVisible;
  if (attributes === undefined || all === undefined || inFlight === undefined) return body;
  attributes.ApproximateNumberOfMessages = String(Math.max(0, Number(all) - Number(inFlight)));
  return JSON.stringify(answer);
}
