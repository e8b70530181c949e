/**
 * The resource policy of the Dfns credential secret. The stack does not own the secret (operators create it), so
 * the policy is attached to it by ARN: without it, any role of the account with `secretsmanager:GetSecretValue`
 * on `*` (admins, CI roles, broad read-only roles) could read the key that signs deactivations.
 */
import { PolicyDocument, PolicyStatement, AnyPrincipal, Effect } from 'aws-cdk-lib/aws-iam';
import { CfnResourcePolicy } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Props of {@link CredentialPolicy}. */
export interface CredentialPolicyProps {
  /** Complete ARN of the credential secret. */
  secretArn: string;
  /** The roles that may read the value: the function's, break-glass, and a rotation function's if any. */
  readerRoleArns: string[];
  /** The roles that may change or remove this policy: the deployment's CloudFormation role and break-glass. */
  administratorRoleArns: string[];
}

/** A deny-only resource policy: it grants nothing, IAM policies still must allow each reader. */
export class CredentialPolicy extends Construct {
  readonly resource: CfnResourcePolicy;

  constructor(scope: Construct, id: string, props: CredentialPolicyProps) {
    super(scope, id);
    const denyAllBut = (sid: string, actions: string[], allowed: string[]) =>
      new PolicyStatement({
        sid,
        effect: Effect.DENY,
        actions,
        principals: [new AnyPrincipal()],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': allowed } },
      });
    this.resource = new CfnResourcePolicy(this, 'Resource', {
      secretId: props.secretArn,
      // A secret has one resource policy: this one replaces any other (see README, Security model).
      blockPublicPolicy: true,
      resourcePolicy: new PolicyDocument({
        statements: [
          denyAllBut('DenyOtherReaders', ['secretsmanager:GetSecretValue'], props.readerRoleArns),
          denyAllBut(
            'DenyOtherPolicyChanges',
            ['secretsmanager:PutResourcePolicy', 'secretsmanager:DeleteResourcePolicy'],
            props.administratorRoleArns,
          ),
        ],
      }),
    });
  }
}
