/**
 * `pat-revoker status`: the request queue's and its DLQ's approximate counts (visible, in flight, delayed), the
 * newest CloudWatch age-of-oldest-message datapoint with its time, and running move tasks. The SQS part is printed
 * whatever CloudWatch does.
 */
import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type ListMessageMoveTasksResultEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { formatError } from '../../functions/lib/format-error.js';
import { abortReason } from './context.js';

/** How far back the newest age datapoint is looked for, minutes. */
export const AGE_LOOKBACK_MINUTES = 15;

/** One queue's counts, or why they are unknown. */
export interface QueueStatus {
  role: 'requests' | 'dead letters';
  name: string;
  url?: string;
  visible?: number;
  inFlight?: number;
  delayed?: number;
  /** The newest `ApproximateAgeOfOldestMessage` datapoint (1-minute maximum), and its time. */
  oldestAgeSeconds?: number;
  oldestAgeAt?: string;
  /** Why the counts are missing: the SQS error. */
  error?: string;
  /** Why the age is missing: CloudWatch's error, or that there was no datapoint. */
  ageNote?: string;
  /** Running move tasks from this queue (the DLQ). */
  moveTasks?: Array<{ status: string; moved: number; toMove?: number; startedAt?: string; handle?: string }>;
}

/** The counts of one queue; an SQS error is kept in the result. */
export async function queueCounts(sqs: SQSClient, status: QueueStatus, signal: AbortSignal): Promise<QueueStatus> {
  if (!status.url) return status;
  try {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: status.url,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
      { abortSignal: signal },
    );
    return {
      ...status,
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  } catch (error) {
    return { ...status, error: signal.aborted ? `not read: ${abortReason(signal)}` : formatError(error) };
  }
}

/** Running move tasks from the DLQ `arn`; an SQS error is returned as a note. */
export async function moveTasks(
  sqs: SQSClient,
  arn: string,
  signal: AbortSignal,
): Promise<NonNullable<QueueStatus['moveTasks']> | string> {
  try {
    const { Results = [] } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn, MaxResults: 10 }), {
      abortSignal: signal,
    });
    return Results.filter((t) => t.Status === 'RUNNING' || t.Status === 'CANCELLING').map(taskSummary);
  } catch (error) {
    return `move tasks unknown: ${formatError(error)}`;
  }
}

/** A move task as status shows it. */
export function taskSummary(task: ListMessageMoveTasksResultEntry): NonNullable<QueueStatus['moveTasks']>[number] {
  return {
    status: task.Status ?? 'UNKNOWN',
    moved: task.ApproximateNumberOfMessagesMoved ?? 0,
    ...(task.ApproximateNumberOfMessagesToMove !== undefined ? { toMove: task.ApproximateNumberOfMessagesToMove } : {}),
    ...(task.StartedTimestamp ? { startedAt: new Date(task.StartedTimestamp).toISOString() } : {}),
    ...(task.TaskHandle ? { handle: task.TaskHandle } : {}),
  };
}

/**
 * Adds the newest age-of-oldest-message datapoint of each queue, with its time. A CloudWatch failure or timeout is
 * written into each queue's `ageNote` with the real error; the counts stay.
 */
export async function addAges(
  cloudwatch: CloudWatchClient,
  queues: QueueStatus[],
  signal: AbortSignal,
): Promise<QueueStatus[]> {
  const end = new Date();
  // Asked after the deadline, CloudWatch would be blamed for SQS' slowness.
  if (signal.aborted) return queues.map((queue) => ({ ...queue, ageNote: `not asked: ${abortReason(signal)}` }));
  try {
    const { MetricDataResults = [] } = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(end.getTime() - AGE_LOOKBACK_MINUTES * 60_000),
        EndTime: end,
        // Newest first, so the first value is the latest datapoint.
        ScanBy: 'TimestampDescending',
        MetricDataQueries: queues.map((queue, i) => ({
          Id: `q${i}`,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateAgeOfOldestMessage',
              Dimensions: [{ Name: 'QueueName', Value: queue.name }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        })),
      }),
      { abortSignal: signal },
    );
    return queues.map((queue, i) => {
      const result = MetricDataResults.find((r) => r.Id === `q${i}`);
      const newest = (result?.Timestamps ?? [])
        .map((t, j) => ({ at: new Date(t), value: result?.Values?.[j] }))
        .filter((p): p is { at: Date; value: number } => typeof p.value === 'number')
        .sort((a, b) => b.at.getTime() - a.at.getTime())[0];
      if (!newest) {
        return {
          ...queue,
          ageNote: `no datapoint in the last ${AGE_LOOKBACK_MINUTES} min (SQS sends none for a queue idle for hours)`,
        };
      }
      return { ...queue, oldestAgeSeconds: newest.value, oldestAgeAt: newest.at.toISOString() };
    });
  } catch (error) {
    const note = `CloudWatch failed: ${signal.aborted ? 'the overall --timeout passed' : formatError(error)}`;
    return queues.map((queue) => ({ ...queue, ageNote: note }));
  }
}
