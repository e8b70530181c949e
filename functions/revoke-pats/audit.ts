/**
 * The audit trail and metrics: one structured JSON line per token outcome (CONTRACT section 5) with Powertools
 * Logger, and the metrics of CONTRACT section 7 with Powertools Metrics (EMF).
 *
 * Only identifiers and Dfns' own words go into a line: never the bearer token, a user action or key material.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { capLine } from '../lib/output-cap.js';
import type { Attribution } from './dead-letter.js';
import type { Outcome } from './outcomes.js';

/** The fields of one audit line, with the record's {@link Attribution} (who sent it and when, envelope claims). */
export interface AuditEntry extends Attribution {
  /** The token ID, or the raw value as received when it is not one (`null` when the body named none). */
  tokenId: unknown;
  /**
   * How the value was received, only when `tokenId` does not show it: the JSON text of a value the logger drops
   * (`null`, `""`), since a search must still find the entry. Never a copy of `tokenId`: one value appears once in
   * a line.
   */
  receivedAs?: string;
  outcome: Outcome;
  /** The SQS record's `messageId`. */
  messageId: string;
  /** The format the request came in: `json`, `sns`, `eventbridge`, `text` (`+base64` when decoded), `unknown`. */
  source: string;
  incidentId?: string;
  requestedBy?: string;
  reason?: string;
  /** From the PAT Dfns returned, where known. */
  linkedUserId?: string;
  orgId?: string;
  /** What happened, for anything but a plain success. */
  detail?: string;
  /** Wall time of the Dfns work for this token (all attempts), ms; absent when no Dfns call was needed. */
  latencyMs?: number;
}

/** Where the batch reports what happened. */
export interface AuditSink {
  /** One token outcome of one record. */
  outcome(entry: AuditEntry): void;
  /** Duration of a deactivation attempt that reached the PUT, in ms. */
  latency(ms: number): void;
  /** One GetSecretValue call. */
  credentialFetch(): void;
  /** Dfns answered 429 (the organisation's limit). */
  throttled(): void;
  /** Time this invocation's tokens waited for the request budget, ms (once per invocation with Dfns work). */
  budgetWait(ms: number): void;
  /** One continuation message sent. */
  continuation(): void;
  /** This invocation ran with the function-wide `DRY_RUN` on. */
  dryRunActive(): void;
  /** One record refused by the source proof (CONTRACT section 2). */
  forgedRecord(): void;
  /** A problem of the function (not of a token) an operator must see. */
  problem(message: string, fields?: Record<string, unknown>): void;
  /** Something in a request was ignored or adjusted; the revocation went on. */
  warning(message: string, fields?: Record<string, unknown>): void;
  /** Emits the per-outcome counts and the metrics collected since the last flush (once per invocation). */
  flush(): void;
}

/** Logger and Metrics of the function, built once per container. */
export interface Telemetry {
  /** Diagnostics: warnings and problems, at `POWERTOOLS_LOG_LEVEL`. */
  logger: Logger;
  /**
   * Audit lines: records, not diagnostics, so their level is pinned to INFO whatever `POWERTOOLS_LOG_LEVEL` says
   * (Powertools: AWS_LAMBDA_LOG_LEVEL > the constructor's logLevel > POWERTOOLS_LOG_LEVEL). Never a faked level:
   * an audit line at ERROR would trip error alarms.
   */
  audit: Logger;
  metrics: Metrics;
}

/** The level audit lines are written at. */
export const AUDIT_LOG_LEVEL = 'INFO';

/** Lambda's application log levels above INFO: at any of them Lambda drops the audit lines. */
const LEVELS_ABOVE_AUDIT = ['WARN', 'ERROR', 'FATAL'];

/**
 * Bounds every printed line (see {@link capLine}). Powertools calls its `jsonReplacerFn` first for the whole line
 * (JSON.stringify's root key `''`), before its own rules, so the cap sees exactly what would be printed. A nested
 * object under a key `''` is bounded on its own too, which changes nothing once the line is within bounds.
 */
function capPrintedLine(key: string, value: unknown): unknown {
  return key === '' && typeof value === 'object' && value !== null && !Array.isArray(value)
    ? capLine(value as Record<string, unknown>)
    : value;
}

/**
 * Builds the Powertools Loggers and Metrics with the service name and namespace from the configuration, and says at
 * once (one ERROR at the cold start) when Lambda's own log level will drop the audit lines.
 */
export function createTelemetry(options: {
  serviceName: string;
  metricsNamespace: string;
  lambdaLogLevel?: string;
}): Telemetry {
  const telemetry: Telemetry = {
    logger: new Logger({ serviceName: options.serviceName, jsonReplacerFn: capPrintedLine }),
    audit: new Logger({ serviceName: options.serviceName, logLevel: AUDIT_LOG_LEVEL, jsonReplacerFn: capPrintedLine }),
    metrics: new Metrics({ serviceName: options.serviceName, namespace: options.metricsNamespace }),
  };
  if (options.lambdaLogLevel !== undefined && LEVELS_ABOVE_AUDIT.includes(options.lambdaLogLevel)) {
    // At FATAL an ERROR would be dropped too: Powertools' CRITICAL is the level that gets through.
    const say = options.lambdaLogLevel === 'FATAL' ? telemetry.logger.critical : telemetry.logger.error;
    say.call(
      telemetry.logger,
      `AWS_LAMBDA_LOG_LEVEL is ${options.lambdaLogLevel}: Lambda drops every line below it, so the audit lines ` +
        "(INFO) are lost: no record of which tokens were switched off is kept. Set the function's application log " +
        'level to INFO.',
      { awsLambdaLogLevel: options.lambdaLogLevel },
    );
  }
  return telemetry;
}

/** The audit sink writing to Powertools. */
export class PowertoolsAudit implements AuditSink {
  private readonly counts = new Map<Outcome, number>();

  constructor(private readonly telemetry: Telemetry) {}

  outcome(entry: AuditEntry): void {
    // tokenId is printed as it is only when the logger keeps it whole: a string, a number or a boolean. A null or
    // empty value would be dropped, and an object or array merged (Powertools drops `__proto__` keys) and its lists
    // cut by the output cap: those are shown once, as their JSON text, in receivedAs.
    const { tokenId, ...rest } = entry;
    const whole = (typeof tokenId === 'string' && tokenId !== '') || ['number', 'boolean'].includes(typeof tokenId);
    this.telemetry.audit.info('revocation', {
      ...(whole ? { tokenId } : {}),
      ...rest,
      ...(whole || entry.receivedAs !== undefined ? {} : { receivedAs: JSON.stringify(tokenId) ?? 'undefined' }),
    });
    this.counts.set(entry.outcome, (this.counts.get(entry.outcome) ?? 0) + 1);
  }

  latency(ms: number): void {
    this.telemetry.metrics.addMetric('DeactivationLatency', MetricUnit.Milliseconds, Math.round(ms));
  }

  credentialFetch(): void {
    this.telemetry.metrics.addMetric('CredentialFetches', MetricUnit.Count, 1);
  }

  throttled(): void {
    this.telemetry.metrics.addMetric('DfnsThrottles', MetricUnit.Count, 1);
  }

  budgetWait(ms: number): void {
    this.telemetry.metrics.addMetric('BudgetWaitMs', MetricUnit.Milliseconds, Math.round(ms));
  }

  continuation(): void {
    this.telemetry.metrics.addMetric('Continuations', MetricUnit.Count, 1);
  }

  dryRunActive(): void {
    this.telemetry.metrics.addMetric('DryRunActive', MetricUnit.Count, 1);
  }

  forgedRecord(): void {
    this.telemetry.metrics.addMetric('ForgedRecords', MetricUnit.Count, 1);
  }

  problem(message: string, fields: Record<string, unknown> = {}): void {
    this.telemetry.logger.error(message, fields);
  }

  warning(message: string, fields: Record<string, unknown> = {}): void {
    this.telemetry.logger.warn(message, fields);
  }

  flush(): void {
    // One EMF blob per outcome: a blob has one dimension set, and Outcome differs between them.
    for (const [outcome, count] of this.counts) {
      const metric = this.telemetry.metrics.singleMetric();
      metric.addDimension('Outcome', outcome);
      metric.addMetric('Revocations', MetricUnit.Count, count);
    }
    this.counts.clear();
    // Powertools' logMetrics middleware would warn on stderr for every invocation without latency or fetch
    // metrics (a dry run, an empty batch); publish only what there is.
    if (this.telemetry.metrics.hasStoredMetrics()) this.telemetry.metrics.publishStoredMetrics();
  }
}
