/**
 * Loopback responders for the two calls the operator CLI makes beside SQS, each speaking its real wire protocol so
 * the real clients reach them through `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL_CLOUDWATCH`:
 * - STS `GetCallerIdentity` (AWS query protocol: a form body, an XML answer), naming a configured caller;
 * - CloudWatch `GetMetricData` (AWS JSON 1.0, `X-Amz-Target: GraniteServiceVersion20100801.GetMetricData`),
 *   answering the datapoints a test or the loopback world scripts, or a scripted error, or never.
 * No installable emulator serves either; both are small.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One datapoint: when (ms since the epoch) and the value. */
export interface Datapoint {
  at: number;
  value: number;
}

/** A scripted answer of the CloudWatch responder. */
export type CloudWatchBehaviour =
  | { kind: 'datapoints'; of: (metric: string, queueName: string) => Datapoint[] }
  | { kind: 'error'; status: number; type: string; message: string }
  | { kind: 'hang' };

/** The running responders. */
export interface StsCloudWatch {
  /** For `AWS_ENDPOINT_URL_STS`. */
  stsUrl: string;
  /** For `AWS_ENDPOINT_URL_CLOUDWATCH`. */
  cloudWatchUrl: string;
  /** The caller GetCallerIdentity names (account and ARN). */
  caller: { account: string; arn: string; userId: string };
  /** What GetMetricData answers from now on. */
  cloudWatch: CloudWatchBehaviour;
  /** GetMetricData calls received. */
  metricCalls: number;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function answerSts(state: StsCloudWatch, form: URLSearchParams, res: ServerResponse): void {
  res.setHeader('content-type', 'text/xml');
  if (form.get('Action') !== 'GetCallerIdentity') {
    res.statusCode = 400;
    res.end(
      `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>${escapeXml(String(form.get('Action')))} is not served here</Message></Error><RequestId>loopback</RequestId></ErrorResponse>`,
    );
    return;
  }
  const { account, arn, userId } = state.caller;
  res.end(
    `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
      `<Arn>${escapeXml(arn)}</Arn><UserId>${escapeXml(userId)}</UserId><Account>${account}</Account>` +
      '</GetCallerIdentityResult><ResponseMetadata><RequestId>loopback</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
  );
}

interface MetricQuery {
  Id: string;
  MetricStat?: { Metric?: { MetricName?: string; Dimensions?: Array<{ Name: string; Value: string }> } };
}

function answerCloudWatch(state: StsCloudWatch, request: string, res: ServerResponse): void {
  state.metricCalls += 1;
  const behaviour = state.cloudWatch;
  if (behaviour.kind === 'hang') return;
  res.setHeader('content-type', 'application/x-amz-json-1.0');
  if (behaviour.kind === 'error') {
    res.statusCode = behaviour.status;
    res.end(JSON.stringify({ __type: behaviour.type, message: behaviour.message }));
    return;
  }
  const { MetricDataQueries = [] } = JSON.parse(request) as { MetricDataQueries?: MetricQuery[] };
  const results = MetricDataQueries.map((query) => {
    const metric = query.MetricStat?.Metric;
    const queueName = metric?.Dimensions?.find((d) => d.Name === 'QueueName')?.Value ?? '';
    const points = behaviour.of(metric?.MetricName ?? '', queueName).sort((a, b) => b.at - a.at);
    // AWS JSON 1.0 timestamps are epoch seconds.
    return {
      Id: query.Id,
      Label: metric?.MetricName,
      StatusCode: 'Complete',
      Timestamps: points.map((p) => p.at / 1000),
      Values: points.map((p) => p.value),
    };
  });
  res.end(JSON.stringify({ MetricDataResults: results, Messages: [] }));
}

/** Starts both responders on 127.0.0.1 (free ports). */
export async function startStsCloudWatch(caller: StsCloudWatch['caller']): Promise<StsCloudWatch> {
  const servers: Server[] = [];
  const listen = async (handle: (text: string, req: IncomingMessage, res: ServerResponse) => void) => {
    const server = createServer((req, res) => void body(req).then((text) => handle(text, req, res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const state: StsCloudWatch = {
    stsUrl: '',
    cloudWatchUrl: '',
    caller,
    cloudWatch: { kind: 'datapoints', of: () => [] },
    metricCalls: 0,
    close: async () => {
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
  state.stsUrl = await listen((text, _req, res) => answerSts(state, new URLSearchParams(text), res));
  state.cloudWatchUrl = await listen((text, req, res) => {
    if (String(req.headers['x-amz-target']).endsWith('.GetMetricData')) answerCloudWatch(state, text, res);
    else {
      res.statusCode = 400;
      res.end(JSON.stringify({ __type: 'UnknownOperationException', message: 'only GetMetricData is served here' }));
    }
  });
  return state;
}
