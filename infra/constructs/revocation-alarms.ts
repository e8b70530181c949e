/**
 * Alarms that wake a human, the SNS topic they page through, a warning that does not page, and the operations
 * dashboard.
 *
 * A partial batch failure never shows as a Lambda error, so the function's own `Revocations` metric (CONTRACT
 * section 7) is alarmed per outcome, with exactly the namespace and dimensions it is emitted with.
 *
 * Warnings do not page: they have no action and show on the dashboard (and in the CloudWatch console). A second
 * topic would e-mail the same on-call addresses and teach them to ignore it; the same topic would page at 3 a.m. for
 * work that is late but not lost. What a warning leads to, if it lasts, pages by itself: a continuation chain past its
 * bounds dead-letters its tokens (`DeadLetters`, `Revocations-failed`).
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { REQUESTS_PER_TOKEN } from '../../functions/lib/config.js';
import { OUTCOMES } from '../../functions/revoke-pats/outcomes.js';

/** Outcomes that page: `failed` (retries exhausting, a broken credential), `protected`, `pending_approval`. */
export const PAGING_OUTCOMES = ['failed', 'protected', 'pending_approval'] as const;

/**
 * Outcomes of tokens whose flow went to Dfns: what the budget is spent on, summed as tokens per minute on the
 * dashboard. Not `continued` (the token ends again later: it would count twice), nor `invalid`, `protected` and
 * `dry_run` (no request to Dfns).
 */
export const BUDGET_OUTCOMES = OUTCOMES.filter((o) => !['continued', 'invalid', 'protected', 'dry_run'].includes(o));

/** `DfnsThrottles` pages when Dfns answered 429 in this many of the last `periods` minutes: a trend, not a burst. */
export const DFNS_THROTTLE_ALARM = { breaching: 3, periods: 5 } as const;

/**
 * The warning that continuations pile up: at least `delayedMessages` messages delayed on the request queue (SQS'
 * `ApproximateNumberOfMessagesDelayed`: continuations wait there until the budget has room) every minute for
 * `minutes`. Below it, an incident that outruns the budget for a few minutes, which continuations are for.
 */
export const CONTINUATION_BACKLOG_WARNING = { delayedMessages: 10, minutes: 15 } as const;

/** Props of {@link RevocationAlarms}. */
export interface RevocationAlarmsProps {
  queue: IQueue;
  deadLetterQueue: IQueue;
  function: IFunction;
  /** Function timeout: the p99 duration alarm fires above 80 % of it. */
  functionTimeout: Duration;
  /** Oldest acceptable request age before paging. @default Duration.minutes(5) */
  revocationSlo?: Duration;
  /** Addresses subscribed to the alarm topic. */
  alarmEmails: string[];
  /** `POWERTOOLS_METRICS_NAMESPACE` of the function. @default 'PatRevoker' */
  metricsNamespace?: string;
  /** `POWERTOOLS_SERVICE_NAME` of the function (the `service` dimension). @default 'pat-revoker' */
  serviceName?: string;
  /** Dashboard name. */
  dashboardName: string;
  /**
   * Page when the function reports a function-wide dry run (`DryRunActive`): set where the environment's settings
   * say the dry run is off, so a `DRY_RUN` changed outside the stack does not stop revocation silently.
   */
  pageOnDryRun: boolean;
  /** The Dfns request budget (CONTRACT section 8) the alarms explain and the dashboard draws. */
  budget: {
    /** `dfnsRequestsPerMinute`: this deployment's share of its organisation's limit. */
    requestsPerMinute: number;
    /** `dfnsOrganisation`: the organisation's label. */
    organisation: string;
    /** `dfnsOrganisationRequestsPerMinute`: the organisation's limit, every caller together. */
    organisationRequestsPerMinute: number;
  };
}

/** The alarms, their topic, the warnings and the dashboard. */
export class RevocationAlarms extends Construct {
  readonly topic: Topic;
  /** The alarms that page through {@link topic}. */
  readonly alarms: Alarm[] = [];
  /** Alarms without an action: shown on the dashboard, never paging. */
  readonly warnings: Alarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: RevocationAlarmsProps) {
    super(scope, id);
    const namespace = props.metricsNamespace ?? 'PatRevoker';
    const service = props.serviceName ?? 'pat-revoker';
    const period = Duration.minutes(1);

    this.topic = new Topic(this, 'Topic', { displayName: 'PAT revoker alarms', enforceSSL: true });
    // enforceSSL makes a topic policy, which replaces SNS' default one: CloudWatch must be allowed to publish,
    // for this account's alarms only, or every alarm fires into the void.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        actions: ['sns:Publish'],
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    for (const address of props.alarmEmails) this.topic.addSubscription(new EmailSubscription(address));

    const revocations = (outcome: string) =>
      new Metric({
        namespace,
        metricName: 'Revocations',
        dimensionsMap: { service, Outcome: outcome },
        statistic: 'Sum',
        period,
      });
    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period });
    const oldest = props.queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period });
    const depth = props.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period });
    const errors = props.function.metricErrors({ statistic: 'Sum', period });
    const throttles = props.function.metricThrottles({ statistic: 'Sum', period });
    const p99 = props.function.metricDuration({ statistic: 'p99', period });
    const slo = props.revocationSlo ?? Duration.minutes(5);

    this.alarm(
      'DeadLetters',
      dlqDepth,
      1,
      'A revocation needs a human: read the DLQ messages (failures[].outcome, detail), fix, then redrive.',
    );
    this.alarm(
      'OldestRequest',
      oldest,
      slo.toSeconds(),
      `A revocation request has waited over ${slo.toSeconds()} s: the function is failing, throttled or too slow.`,
      { comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD },
    );
    this.alarm(
      'FunctionErrors',
      errors,
      1,
      'The function failed whole (a cold-start configuration error or a bug): the batch is retried; read its logs.',
    );
    this.alarm(
      'FunctionThrottles',
      throttles,
      1,
      'The function was throttled: check account concurrency; SQS keeps the records.',
    );
    this.alarm(
      'DurationP99',
      p99,
      props.functionTimeout.toMilliseconds() * 0.8,
      'p99 duration is above 80 % of the timeout: Dfns is slow or batches are too large; the deadline guard will cut batches short.',
      { comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD },
    );
    const why: Record<(typeof PAGING_OUTCOMES)[number], string> = {
      failed:
        'Tokens ended failed (retried): Dfns errors, timeouts, or our credential rejected. Read the audit lines with outcome failed.',
      protected: 'Someone asked to deactivate a protected token (PROTECTED_TOKEN_IDS): check the request in the DLQ.',
      pending_approval:
        'A Dfns policy holds a deactivation for approval: approve it in Dfns, the token is still active.',
    };
    for (const outcome of PAGING_OUTCOMES) {
      this.alarm(`Revocations-${outcome}`, revocations(outcome), 1, why[outcome]);
    }
    // Every environment: the stack always sets SOURCE_QUEUE_URLS, so every record is proven to come from the queue.
    this.alarm(
      'ForgedRecords',
      new Metric({ namespace, metricName: 'ForgedRecords', dimensionsMap: { service }, statistic: 'Sum', period }),
      1,
      "The function refused records that did not come from its queue (ForgedRecords; none was acted on): someone invoked it directly with a forged SQS event, or an event source mapping feeds it a queue it does not know. Check CloudTrail for Invoke calls on this stack's revoker function (Lambda data events) and who made them, and its event source mappings (aws lambda list-event-source-mappings); its ERROR lines say which records were refused and why.",
    );
    if (props.pageOnDryRun) {
      this.alarm(
        'DryRunActive',
        new Metric({ namespace, metricName: 'DryRunActive', dimensionsMap: { service }, statistic: 'Sum', period }),
        1,
        "The function runs with DRY_RUN on, but this environment's settings say it is off: nothing is being deactivated. Its configuration was changed outside the stack: redeploy, and find out who changed it.",
      );
    }

    // The Dfns request budget (CONTRACT section 8).
    const { budget } = props;
    const budgetTokens = Math.floor(budget.requestsPerMinute / REQUESTS_PER_TOKEN);
    const ownMetric = (metricName: string, statistic: string) =>
      new Metric({ namespace, metricName, dimensionsMap: { service }, statistic, period });
    const dfnsThrottles = ownMetric('DfnsThrottles', 'Sum');
    const continuations = ownMetric('Continuations', 'Sum');
    const delayed = props.queue.metricApproximateNumberOfMessagesDelayed({ statistic: 'Maximum', period });
    const throttleAlarm = this.alarm(
      'DfnsThrottles',
      dfnsThrottles,
      1,
      `Dfns refused requests with 429 (DfnsThrottles) in ${DFNS_THROTTLE_ALARM.breaching} of the last ${DFNS_THROTTLE_ALARM.periods} minutes: Dfns organisation ${budget.organisation} is at its limit (${budget.organisationRequestsPerMinute} requests per minute, every caller together). Either this deployment's budget (${budget.requestsPerMinute} per minute, DFNS_REQUESTS_PER_MINUTE) with the other environments and apps on that organisation is set above what it really allows, or another caller floods it. Tokens are late, not lost (the function pauses, halves its share, continues them), but containment slows and the organisation's own apps are refused too. Check: the dashboard's tokens per minute against the budget line; the function's DFNS_REQUESTS_PER_MINUTE and EVENT_SOURCE_MAX_CONCURRENCY against infra/environments.ts (changed outside the stack?); who else calls Dfns on that organisation (other environments, integrations, a runaway script). Then lower dfnsRequestsPerMinute, or stop the other caller.`,
      { evaluationPeriods: DFNS_THROTTLE_ALARM.periods, datapointsToAlarm: DFNS_THROTTLE_ALARM.breaching },
    );
    const backlog = new Alarm(this, 'WarningContinuationBacklog', {
      metric: delayed,
      threshold: CONTINUATION_BACKLOG_WARNING.delayedMessages,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: CONTINUATION_BACKLOG_WARNING.minutes,
      datapointsToAlarm: CONTINUATION_BACKLOG_WARNING.minutes,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `WARNING, does not page: at least ${CONTINUATION_BACKLOG_WARNING.delayedMessages} messages have waited delayed on the request queue for ${CONTINUATION_BACKLOG_WARNING.minutes} minutes: continuations pile up, because the work outruns the Dfns request budget (${budget.requestsPerMinute} requests, ${budgetTokens} tokens, per minute). Tokens are late, not lost. On the dashboard: tokens per minute at the budget line means the budget is the limit (raise dfnsRequestsPerMinute if organisation ${budget.organisation} has room); below it with DfnsThrottles, Dfns refuses. A chain past 24 hours or 500 continuations is dead-lettered, which pages.`,
    });
    this.warnings.push(backlog);

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName });
    const note = (markdown: string) => new TextWidget({ markdown, width: 24, height: 2 });
    this.dashboard.addWidgets(
      note(
        '**PAT revoker.** Every token ends in one outcome (audit line `message: "revocation"`). `failed` is retried by SQS; `invalid`, `not_found`, `rejected`, `protected` go to the DLQ for a human.',
      ),
      new GraphWidget({
        title: 'Revocations per outcome',
        left: OUTCOMES.map((o) => revocations(o).with({ label: o })),
        width: 24,
        stacked: true,
      }),
      note(
        '**Queues.** Depth and oldest age rising: the function cannot keep up or is failing (see errors). DLQ depth above 0: read the messages, fix the cause, redrive (SQS console "Start DLQ redrive", or `aws sqs start-message-move-task`).',
      ),
      new GraphWidget({ title: 'Request queue: depth and oldest age (s)', left: [depth], right: [oldest], width: 12 }),
      new GraphWidget({ title: 'Dead-letter queue depth', left: [dlqDepth], width: 12 }),
      note(
        '**Function.** Errors mean a whole batch failed (configuration or bug: read the logs); throttles mean no concurrency left; p99 near the timeout means Dfns is slow.',
      ),
      new GraphWidget({ title: 'Function errors and throttles', left: [errors, throttles], width: 12 }),
      new GraphWidget({ title: 'Function duration p99 (ms)', left: [p99], width: 12 }),
      note(
        `**Dfns request budget.** ${budget.requestsPerMinute} requests per minute of organisation ${budget.organisation}'s ${budget.organisationRequestsPerMinute}: at most ${budgetTokens} tokens per minute (${REQUESTS_PER_TOKEN} requests each). Tokens at the line: the budget sets the pace, the rest goes on in continuations (late, not lost). Throttles are Dfns' 429s: the organisation is over its limit (pages after ${DFNS_THROTTLE_ALARM.breaching} of ${DFNS_THROTTLE_ALARM.periods} minutes). Budget wait is the time an invocation's requests waited for room.`,
      ),
      new AlarmStatusWidget({ title: 'Dfns budget: page and warning', alarms: [throttleAlarm, backlog], width: 24 }),
      new GraphWidget({
        title: 'Tokens per minute against the budget',
        left: [
          new MathExpression({
            expression: `SUM([${BUDGET_OUTCOMES.map((o) => `r_${o}`).join(', ')}])`,
            usingMetrics: Object.fromEntries(BUDGET_OUTCOMES.map((o) => [`r_${o}`, revocations(o)])),
            label: `tokens sent to Dfns (${BUDGET_OUTCOMES.join(', ')})`,
            period,
          }),
        ],
        leftAnnotations: [
          {
            value: budget.requestsPerMinute / REQUESTS_PER_TOKEN,
            label: `budget: ${budget.requestsPerMinute} ÷ ${REQUESTS_PER_TOKEN}`,
          },
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'Dfns throttles (429s) per minute',
        left: [dfnsThrottles],
        leftAnnotations: [
          {
            value: 1,
            label: `pages at ≥ 1 in ${DFNS_THROTTLE_ALARM.breaching} of ${DFNS_THROTTLE_ALARM.periods} minutes`,
          },
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'Budget wait per invocation (ms)',
        left: [
          ownMetric('BudgetWaitMs', 'Average').with({ label: 'average' }),
          ownMetric('BudgetWaitMs', 'Maximum').with({ label: 'maximum' }),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'Continuations sent per minute, and waiting (delayed messages)',
        left: [continuations.with({ label: 'continuations sent' })],
        right: [delayed.with({ label: 'delayed on the request queue' })],
        rightAnnotations: [
          {
            value: CONTINUATION_BACKLOG_WARNING.delayedMessages,
            label: `warning after ${CONTINUATION_BACKLOG_WARNING.minutes} minutes`,
          },
        ],
        width: 12,
      }),
    );
  }

  /** A paging alarm: by default on one breaching period. */
  private alarm(
    id: string,
    metric: IMetric,
    threshold: number,
    description: string,
    {
      comparisonOperator = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods = 1,
      datapointsToAlarm = 1,
    }: { comparisonOperator?: ComparisonOperator; evaluationPeriods?: number; datapointsToAlarm?: number } = {},
  ): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      comparisonOperator,
      evaluationPeriods,
      datapointsToAlarm,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
