/** SQS events and Lambda contexts for tests: the one factory lives with the tools that also need it. */
export { lambdaContext, sqsEvent, type RecordSpec } from '../../tools/aws/lambda-events.js';
