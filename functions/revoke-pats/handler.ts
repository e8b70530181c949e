/**
 * Lambda entry (CONTRACT section 1): `handler(event: SQSEvent, context) → Promise<SQSBatchResponse>`.
 *
 * The configuration is validated when the module loads, so a missing or malformed variable fails the cold start
 * with the variable's name (CONTRACT section 2); the container (AWS clients, caches) lives as long as the
 * Lambda container. The wiring is in wiring.ts, the work in revoke-batch.ts.
 */
import { loadConfig } from '../lib/config.js';
import { createContainer } from './container.js';
import { createHandler } from './wiring.js';

export const handler = createHandler(createContainer(loadConfig()));
