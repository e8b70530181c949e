/**
 * The resource policy of the Dfns credential secret. The stack does not own the secret (operators create it), so
 * the policy is attached to it by ARN: without it, any role of the account with `secretsmanager:GetSecretValue`
 * on `*` (admins, CI roles, broad read-only roles) could read the key that signs deactivations.
 */
import { PolicyDocument } from 'aws-cdk-lib/aws-iam';
import { CfnResourcePolicy } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { denyAllBut } from './deny-all-but.js';
import { CREDENTIAL_TAMPERING } from './tamper-alarm.js';

/** The Secrets Manager actions behind the calls the tamper alarm watches on the value. */
const CREDENTIAL_CHANGES = CREDENTIAL_TAMPERING.map((call) => `secretsmanager:${call}`);

/** Props of {@link CredentialPolicy}. */
export interface CredentialPolicyProps {
  /** Complete ARN of the credential secret. */
  secretArn: string;
  /** The roles that may read the value: the function's, break-glass, and a rotation function's if any. */
  readerRoleArns: string[];
  /** The roles that may change, rotate or delete the value: break-glass and a rotation function's if any. */
  keeperRoleArns: string[];
  /** The roles that may change or remove this policy: the deployment's CloudFormation role and break-glass. */
  administratorRoleArns: string[];
}

/** A deny-only resource policy: it grants nothing, IAM policies still must allow each reader. */
export class CredentialPolicy extends Construct {
  readonly resource: CfnResourcePolicy;

  constructor(scope: Construct, id: string, props: CredentialPolicyProps) {
    super(scope, id);
    // A secret's resource policy applies to that secret only: `*` names it.
    const deny = (sid: string, actions: string[], allowed: string[]) => denyAllBut(sid, actions, '*', allowed);
    this.resource = new CfnResourcePolicy(this, 'Resource', {
      secretId: props.secretArn,
      // A secret has one resource policy: this one replaces any other (see README, Security model).
      blockPublicPolicy: true,
      resourcePolicy: new PolicyDocument({
        statements: [
          deny('DenyOtherReaders', ['secretsmanager:GetSecretValue'], props.readerRoleArns),
          // A new value, another KMS key, a moved stage or a deletion stops revocations or swaps the signer.
          deny('DenyOtherValueChanges', [...CREDENTIAL_CHANGES], props.keeperRoleArns),
          deny(
            'DenyOtherPolicyChanges',
            ['secretsmanager:PutResourcePolicy', 'secretsmanager:DeleteResourcePolicy'],
            props.administratorRoleArns,
          ),
        ],
      }),
    });
  }
}
