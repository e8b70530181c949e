/**
 * The one shape of every resource-policy deny this stack writes: an action denied to every IAM principal but a few
 * named roles, matched on `aws:PrincipalArn` (the role's ARN, path included, for every session of the role).
 */
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';

/**
 * A statement denying `actions` on `resource` to every principal but `allowed`.
 *
 * @param allowed role ARNs (tokens allowed); a principal without an ARN (a service acting on its own) is denied too
 */
export function denyAllBut(sid: string, actions: string[], resource: string, allowed: string[]): PolicyStatement {
  return new PolicyStatement({
    sid,
    effect: Effect.DENY,
    actions,
    principals: [new AnyPrincipal()],
    resources: [resource],
    conditions: { ArnNotEquals: { 'aws:PrincipalArn': allowed } },
  });
}
