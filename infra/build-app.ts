/**
 * Builds the stacks into an app: shared by `infra/app.ts` and the tests, so both synthesize the same thing.
 */
import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ENVIRONMENTS, selectEnvironments, type EnvironmentInput, type EnvironmentName } from './environments.js';
import { acknowledgeNagFindings } from './nag.js';
import { RevocationStack } from './revocation-stack.js';

/**
 * Adds a stack per selected environment and the cdk-nag packs.
 *
 * @param only an environment name (`-c env=<name>`), or `undefined` for all
 * @throws {SettingsError} for an unknown environment or bad settings
 */
export function buildApp(
  app: App,
  only?: unknown,
  environments: Record<EnvironmentName, EnvironmentInput> = ENVIRONMENTS,
): RevocationStack[] {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return selectEnvironments(only, environments).map((settings) => {
    const stack = new RevocationStack(app, `PatRevoker-${settings.name}`, { settings });
    acknowledgeNagFindings(stack);
    return stack;
  });
}
