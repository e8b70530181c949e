/**
 * The operator CLI as operators run it, a process, against a real SQS-compatible server on loopback (the request
 * queue with its redrive policy and DLQ), behind a fault-injecting proxy, with loopback STS and CloudWatch.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand, ListMessageMoveTasksCommand } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LoopbackSqs, startSqs } from '../../tools/aws/sqs.js';
import { type StsCloudWatch, startStsCloudWatch } from '../../tools/aws/sts-cloudwatch.js';
import { type SqsProxy, startSqsProxy } from './sqs-proxy.js';

const CLI_MAIN = fileURLToPath(new URL('../../tools/cli/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a CLI process did. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI's world. */
export interface CliWorld {
  sqs: LoopbackSqs;
  proxy: SqsProxy;
  apis: StsCloudWatch;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
  /** The environment a CLI process gets: loopback endpoints (SQS through the proxy), dummy credentials. */
  env: Record<string, string>;
  /**
   * Between tests: clears the proxy's faults and calls, waits for a move task a test left running (it stopped
   * following it) to finish, and empties the request queue and the DLQ.
   */
  reset(): Promise<void>;
  /** Runs the CLI with `args`; `--queue-url` is added unless the args name a queue or `bare` is set. */
  cli(args: string[], options?: RunOptions): Promise<CliRun>;
  close(): Promise<void>;
}

/** How one CLI process runs. */
export interface RunOptions {
  stdin?: string;
  /** Variables to set, or (undefined) to unset. */
  env?: Record<string, string | undefined>;
  /** Do not add `--queue-url`. */
  bare?: boolean;
  /** Sends SIGINT once stderr contains this text. */
  interruptWhen?: string;
  /** Working directory (default: the checkout). */
  cwd?: string;
}

/** Runs a CLI process. */
export function runCli(args: string[], env: Record<string, string>, options: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: Object.fromEntries(
        Object.entries({
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          ...env,
          ...options.env,
        }).filter(([, value]) => value !== undefined),
      ),
    });
    let stdout = '';
    let stderr = '';
    let interruptWhen = options.interruptWhen;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (interruptWhen && stderr.includes(interruptWhen)) {
        interruptWhen = undefined;
        child.kill('SIGINT');
      }
    });
    child.stdin.end(options.stdin ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the world. */
export async function startCliWorld(): Promise<CliWorld> {
  const sqs = await startSqs('pat-revoker-requests-dlq');
  const dlqUrl = sqs.deadLetterQueueUrl;
  const arnOf = async (url: string) =>
    (await sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes
      ?.QueueArn as string;
  const dlqArn = await arnOf(dlqUrl);
  const queueUrl = await sqs.createQueue('pat-revoker-requests', {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
  });
  const queueArn = await arnOf(queueUrl);
  const proxy = await startSqsProxy(new URL(queueUrl).origin);
  const apis = await startStsCloudWatch({
    account: '123456789012',
    arn: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
    userId: 'AROAOPERATOR:alice',
  });
  const env = {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'operator',
    AWS_SECRET_ACCESS_KEY: 'operator',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_SQS: proxy.url,
    AWS_ENDPOINT_URL_STS: apis.stsUrl,
    AWS_ENDPOINT_URL_CLOUDWATCH: apis.cloudWatchUrl,
  };
  const names = ['--queue-url', '--env', '--help', '-h', '--version'];
  const reset = async () => {
    proxy.clear();
    for (;;) {
      const { Results = [] } = await sqs.client.send(
        new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }),
      );
      if (!Results.some((t) => t.Status === 'RUNNING')) break;
      await sleep(200);
    }
    await Promise.all([sqs.drain(queueUrl), sqs.drain(dlqUrl)]);
  };
  return {
    reset,
    sqs,
    proxy,
    apis,
    queueUrl,
    queueArn,
    dlqUrl,
    dlqArn,
    env,
    cli: (args, options = {}) =>
      runCli(
        options.bare || args.some((a) => names.includes(a)) ? args : [...args, '--queue-url', queueUrl],
        env,
        options,
      ),
    close: async () => {
      await proxy.close();
      await apis.close();
      await sqs.close();
    },
  };
}
