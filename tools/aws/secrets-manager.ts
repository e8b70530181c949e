/**
 * A loopback Secrets Manager responder for its one operation the function uses, `GetSecretValue` (AWS JSON 1.1,
 * `X-Amz-Target: secretsmanager.GetSecretValue`). There is no installable emulator; this is small and speaks the
 * real wire protocol, so the real `@aws-sdk/client-secrets-manager` talks to it through
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Errors can be scripted (throttling, access denied, missing secret...).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted Secrets Manager error. */
export interface SecretsManagerFault {
  /** AWS error code, e.g. `ThrottlingException`, `AccessDeniedException`, `ResourceNotFoundException`. */
  type: string;
  /** HTTP status. @default 400 */
  status?: number;
  /** How many calls it answers. @default 1 */
  times?: number;
  /** Calls to serve normally before it starts. @default 0 */
  skip?: number;
}

/** A running responder. */
export class SecretsManagerResponder {
  /** Endpoint for `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  readonly url: string;
  /** GetSecretValue calls received, in order, by SecretId. */
  readonly calls: string[] = [];
  private readonly secrets = new Map<string, string>();
  private readonly faults: Array<Required<SecretsManagerFault>> = [];

  /** @internal use {@link startSecretsManager} */
  constructor(private readonly server: Server) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answer = this.answer(String(req.headers['x-amz-target'] ?? ''), Buffer.concat(chunks).toString('utf8'));
        res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(answer.body));
      });
    });
  }

  /** Sets (or replaces, as a rotation does) a secret's `SecretString`. */
  setSecret(secretId: string, secretString: string): void {
    this.secrets.set(secretId, secretString);
  }

  /** Deletes a secret: GetSecretValue answers ResourceNotFoundException. */
  deleteSecret(secretId: string): void {
    this.secrets.delete(secretId);
  }

  /** Queues an error for the next call(s). */
  injectFault(fault: SecretsManagerFault): void {
    this.faults.push({ status: 400, times: 1, skip: 0, ...fault });
  }

  /** Drops every queued error. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Stops the server. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(target: string, body: string): { status: number; body: unknown } {
    const error = (status: number, type: string, message: string) => ({ status, body: { __type: type, message } });
    if (target !== 'secretsmanager.GetSecretValue') {
      return error(400, 'UnknownOperationException', `this responder only serves GetSecretValue, not ${target}`);
    }
    let secretId: string;
    try {
      secretId = String((JSON.parse(body) as { SecretId?: unknown }).SecretId);
    } catch {
      return error(400, 'SerializationException', 'body is not JSON');
    }
    this.calls.push(secretId);
    const fault = this.faults[0];
    if (fault && fault.skip > 0) fault.skip -= 1;
    else if (fault) {
      fault.times -= 1;
      if (fault.times <= 0) this.faults.shift();
      return error(fault.status, fault.type, `scripted ${fault.type}`);
    }
    const value = this.secrets.get(secretId);
    if (value === undefined) {
      return error(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return {
      status: 200,
      body: {
        ARN: secretId.startsWith('arn:')
          ? secretId
          : `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secretId}-AbCdEf`,
        Name: secretId,
        SecretString: value,
        VersionId: randomUUID(),
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      },
    };
  }
}

/** Starts a responder on 127.0.0.1 (a free port). */
export async function startSecretsManager(): Promise<SecretsManagerResponder> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return new SecretsManagerResponder(server);
}
