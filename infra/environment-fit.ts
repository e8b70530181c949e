/**
 * What the settings must fit beyond each value's own rule: the function's whole environment within Lambda's 4 KB,
 * counted at its deployed length, and the budgets of the environments on one Dfns organisation within its limit.
 */
import { deadLetterQueueNameOf } from './constructs/revocation-queue.js';
import type { EnvironmentName, EnvironmentSettings } from './environments.js';
import {
  environmentBytes,
  functionEnvironment,
  LAMBDA_ENVIRONMENT_MAX_BYTES,
  settingsRefs,
} from './function-environment.js';
import { SettingsError } from './settings-error.js';

/** The request queue's name in an environment. */
export function requestQueueName(name: EnvironmentName): string {
  return `pat-revoker-${name}-requests`;
}

/** The longest AWS region name today (ap-southeast-5, ap-northeast-3 ...): an environment-agnostic stack's queue URLs. */
const LONGEST_REGION_NAME = 14;

/** A queue's URL as CloudFormation gives it (`Ref`), at its deployed length. */
function queueUrl(settings: EnvironmentSettings, queueName: string): string {
  const { region, account = '123456789012' } = settings;
  // Environment-agnostic: the longest such a URL can be (China's domain is the longer).
  const host = region
    ? `sqs.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`
    : `sqs.${'x'.repeat(LONGEST_REGION_NAME)}.amazonaws.com.cn`;
  return `https://${host}/${account}/${queueName}`;
}

/** An IAM role's unique ID (`RoleId`) at its deployed length: `AROA` and 17 characters. */
const ROLE_ID_AT_LENGTH = `AROA${'X'.repeat(17)}`;

/**
 * The function's whole environment as the stack deploys it, with what CloudFormation fills in at deploy time (the
 * queue URLs, the role's unique ID) at its real length: what synth measures against Lambda's 4 KB.
 */
export function deployedEnvironment(settings: EnvironmentSettings): Record<string, string> {
  const queueName = requestQueueName(settings.name);
  return functionEnvironment(settings, {
    ...settingsRefs(settings),
    deadLetterQueueUrl: queueUrl(settings, deadLetterQueueNameOf(queueName)),
    sourceQueueUrls: [queueUrl(settings, queueName)],
    functionRoleId: ROLE_ID_AT_LENGTH,
  });
}

/** The settings behind the variables that grow with them. */
const SETTING_OF_VARIABLE: Record<string, string> = {
  PROTECTED_TOKEN_IDS: 'protectedTokenIds',
  DFNS_CREDENTIALS_SECRET_ID: 'credentialSecretArn',
  DFNS_API_URL: 'dfnsApiUrl',
};

/**
 * The function's whole environment must fit Lambda's 4 KB, or the deploy fails half-way.
 *
 * @throws {SettingsError} naming `protectedTokenIds` (how many fit) or the setting behind the largest variable
 */
export function checkEnvironmentSize(settings: EnvironmentSettings): void {
  const environment = deployedEnvironment(settings);
  const bytes = environmentBytes(environment);
  if (bytes <= LAMBDA_ENVIRONMENT_MAX_BYTES) return;
  const over = `the function's environment would be ${bytes} bytes, over Lambda's limit of ${LAMBDA_ENVIRONMENT_MAX_BYTES} (4 KB for every variable, keys and values, measured as Lambda does with the queue URLs and the role ID at their deployed length)`;
  const ids = settings.protectedTokenIds;
  if (ids.length > 0) {
    let fit = ids.length - 1;
    while (
      fit > 0 &&
      environmentBytes(deployedEnvironment({ ...settings, protectedTokenIds: ids.slice(0, fit) })) >
        LAMBDA_ENVIRONMENT_MAX_BYTES
    ) {
      fit -= 1;
    }
    throw new SettingsError(
      `${settings.name}.protectedTokenIds`,
      `holds ${ids.length} token IDs: ${over}. At most ${fit} fit beside the other settings: protect only the revoker's own and the break-glass tokens`,
    );
  }
  const [largest] = Object.entries(environment)
    .filter(([variable]) => variable in SETTING_OF_VARIABLE)
    .sort(([, a], [, b]) => b.length - a.length);
  const [variable = '', value = ''] = largest ?? [];
  throw new SettingsError(
    `${settings.name}.${SETTING_OF_VARIABLE[variable] ?? 'protectedTokenIds'}`,
    `${over}; its largest variable from the settings is ${variable} (${value.length} characters): shorten it`,
  );
}

/**
 * The environments on one Dfns organisation share its limit: their budgets must add up to no more than it.
 *
 * @throws {SettingsError} naming the environments' `dfnsRequestsPerMinute` over an organisation's limit, or a
 *   `dfnsOrganisationRequestsPerMinute` that differs from another environment's on the same organisation
 */
export function checkOrganisationBudgets(environments: readonly EnvironmentSettings[]): void {
  const byOrganisation = new Map<string, EnvironmentSettings[]>();
  for (const settings of environments) {
    byOrganisation.set(settings.dfnsOrganisation, [...(byOrganisation.get(settings.dfnsOrganisation) ?? []), settings]);
  }
  for (const [organisation, members] of byOrganisation) {
    const [first] = members as [EnvironmentSettings, ...EnvironmentSettings[]];
    const limit = first.dfnsOrganisationRequestsPerMinute;
    const other = members.find((m) => m.dfnsOrganisationRequestsPerMinute !== limit);
    if (other) {
      throw new SettingsError(
        `${other.name}.dfnsOrganisationRequestsPerMinute`,
        `is ${other.dfnsOrganisationRequestsPerMinute}, but ${first.name} gives ${limit} for the same Dfns organisation "${organisation}" (dfnsOrganisation): one organisation has one limit; correct the wrong one, or the label`,
      );
    }
    const total = members.reduce((sum, m) => sum + m.dfnsRequestsPerMinute, 0);
    if (total > limit) {
      const budgets = members.map((m) => m.dfnsRequestsPerMinute).join(' + ');
      throw new SettingsError(
        members.map((m) => `${m.name}.dfnsRequestsPerMinute`).join(' + '),
        `${members.length > 1 ? `${budgets} = ` : ''}${total} requests per minute, more than Dfns organisation "${organisation}" allows (dfnsOrganisationRequestsPerMinute ${limit}, every caller together): Dfns would refuse the excess with 429s, to the organisation's own apps too. Lower ${members.length > 1 ? 'them' : 'it'} to leave room for the organisation's own traffic${members.length > 1 ? ', or give an environment an organisation of its own (dfnsOrganisation)' : ''}`,
      );
    }
  }
}
